// The stack's settings: every CDK context value it reads (`-c name=value`
// on the command line, or "context" in cdk.json), its default, and the
// checks that refuse a bad one before anything is synthesised.  README
// "Deploy" lists them with what they cost.
import { Node } from 'constructs';

export interface MangooConfig {
  /** Images from ECR repositories of the stack's account and region, with this tag. */
  readonly imageTag: string;
  readonly nginxRepository: string;
  readonly workerRepository: string;
  /** Whole image references (any registry) instead of the ECR repositories; empty: unused. */
  readonly nginxImage: string;
  readonly workerImage: string;
  /** Build both images from the repository's Dockerfiles at deploy (Docker needed then, not at synth). */
  readonly buildImages: boolean;

  /** NAT gateways: 0 puts the tasks in public subnets with public addresses (no NAT cost). */
  readonly natGateways: number;
  /** The VPC's range, /16 to /18 (two /20 task subnets and four /24). */
  readonly vpcCidr: string;

  /** Public host name the app is reached at (a CNAME or alias to the ALB); empty: the ALB's own name. */
  readonly domainName: string;
  /** ACM certificate for the HTTPS listener; empty: HTTP only. */
  readonly certificateArn: string;
  /** ALB idle timeout, seconds (>= 120: long answer streams). */
  readonly idleTimeout: number;

  readonly nginxCpu: number;
  readonly nginxMemory: number;
  readonly nginxMin: number;
  readonly nginxMax: number;
  readonly nginxCpuTarget: number;

  readonly workerCpu: number;
  readonly workerMemory: number;
  readonly workerMin: number;
  readonly workerMax: number;
  readonly workerCpuTarget: number;
  /** Target of the workers' mean QueueDepth (jobs waiting for a pool thread, per task). */
  readonly workerQueueTarget: number;
  readonly workerThreads: number;

  /** Seconds ECS waits after SIGTERM before SIGKILL (2..120); also the ALB's deregistration delay. */
  readonly stopTimeout: number;

  /** Private DNS namespace the workers are registered in (Cloud Map). */
  readonly namespace: string;

  readonly dbEngineVersion: string;
  readonly dbMinAcu: number;
  readonly dbMaxAcu: number;
  readonly dbReaders: number;
  readonly dbBackupDays: number;
  readonly dbDeletionProtection: boolean;

  /** Bedrock chat models the workers may call and list (MANGOO_BEDROCK_MODELS). */
  readonly bedrockModels: string[];
  /** Bedrock embedding models for knowledge bases. */
  readonly bedrockEmbeddingModels: string[];

  /** Cognito hosted UI domain prefix; empty: "mangoo-" and part of the stack's id. */
  readonly cognitoDomainPrefix: string;
  /** A confidential app client (its secret in Secrets Manager, given to the workers). */
  readonly cognitoClientSecret: boolean;
  readonly selfSignUp: boolean;

  readonly waf: boolean;
  /** Requests per 5 minutes from one address before WAF blocks it. */
  readonly wafRateLimit: number;
  /** Rules of the common rule set that only count, never block. */
  readonly wafCountRules: string[];

  readonly logRetentionDays: number;
  readonly containerInsights: boolean;
  /** Seconds between the workers' CloudWatch metric lines (MANGOO_EMF_INTERVAL). */
  readonly emfInterval: number;
  readonly alarmEmail: string;
  readonly alarm5xxThreshold: number;
  readonly alarmTtftSeconds: number;
  readonly alarmQueueDepth: number;
}

export const DEFAULTS: MangooConfig = {
  imageTag: 'latest',
  nginxRepository: 'mangoo-nginx',
  workerRepository: 'mangoo-worker',
  nginxImage: '',
  workerImage: '',
  buildImages: false,
  natGateways: 1,
  vpcCidr: '10.40.0.0/16',
  domainName: '',
  certificateArn: '',
  idleTimeout: 300,
  nginxCpu: 512,
  nginxMemory: 1024,
  nginxMin: 2,
  nginxMax: 6,
  nginxCpuTarget: 60,
  workerCpu: 1024,
  workerMemory: 2048,
  workerMin: 2,
  workerMax: 10,
  workerCpuTarget: 60,
  workerQueueTarget: 4,
  workerThreads: 8,
  stopTimeout: 30,
  namespace: 'mangoo.internal',
  dbEngineVersion: '15.12',
  dbMinAcu: 0.5,
  dbMaxAcu: 4,
  dbReaders: 0,
  dbBackupDays: 7,
  dbDeletionProtection: false,
  bedrockModels: [
    'anthropic.claude-3-5-sonnet-20241022-v2:0',
    'anthropic.claude-3-5-haiku-20241022-v1:0',
    'anthropic.claude-3-haiku-20240307-v1:0',
  ],
  bedrockEmbeddingModels: ['amazon.titan-embed-text-v2:0'],
  cognitoDomainPrefix: '',
  cognitoClientSecret: false,
  selfSignUp: false,
  waf: true,
  wafRateLimit: 2000,
  wafCountRules: ['SizeRestrictions_BODY'],
  logRetentionDays: 30,
  containerInsights: false,
  emfInterval: 60,
  alarmEmail: '',
  alarm5xxThreshold: 10,
  alarmTtftSeconds: 10,
  alarmQueueDepth: 50,
};

/** CloudWatch Logs' allowed retention periods, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
  3288, 3653,
];

/** Fargate's CPU units and the memory (MiB) each allows. */
const FARGATE_MEMORY: Record<number, [number, number, number]> = {
  // cpu: [min, max, step]
  256: [512, 2048, 1024],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
};

export class ConfigError extends Error {}

type Raw = Record<string, unknown>;

function num(raw: Raw, key: keyof MangooConfig, min: number, max: number, integer = true): number {
  const v = raw[key];
  const n = v === undefined ? (DEFAULTS[key] as number) : Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new ConfigError(
      `context ${key} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(v)}`,
    );
  }
  return n;
}

function bool(raw: Raw, key: keyof MangooConfig): boolean {
  const v = raw[key];
  if (v === undefined) return DEFAULTS[key] as boolean;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new ConfigError(`context ${key} must be true or false, not ${JSON.stringify(v)}`);
}

function str(raw: Raw, key: keyof MangooConfig, pattern?: RegExp): string {
  const v = raw[key];
  const s = v === undefined ? (DEFAULTS[key] as string) : String(v);
  if (pattern !== undefined && s !== '' && !pattern.test(s)) {
    throw new ConfigError(`context ${key} has a bad value: ${JSON.stringify(v)}`);
  }
  return s;
}

/** A list from a JSON array or a comma-separated string. */
function list(raw: Raw, key: keyof MangooConfig, pattern: RegExp): string[] {
  const v = raw[key];
  let items: unknown[];
  if (v === undefined) {
    items = DEFAULTS[key] as string[];
  } else if (Array.isArray(v)) {
    items = v;
  } else {
    const s = String(v).trim();
    items = s.startsWith('[') ? (JSON.parse(s) as unknown[]) : s.split(',');
  }
  const out = items.map((x) => String(x).trim()).filter((x) => x !== '');
  for (const x of out) {
    if (!pattern.test(x)) throw new ConfigError(`context ${key}: bad entry ${JSON.stringify(x)}`);
  }
  return [...new Set(out)];
}

function fargate(cpu: number, memory: number, what: string): void {
  const range = FARGATE_MEMORY[cpu];
  if (range === undefined) {
    throw new ConfigError(`context ${what}Cpu must be one of ${Object.keys(FARGATE_MEMORY).join(', ')}, not ${cpu}`);
  }
  const [lo, hi, step] = range;
  if (memory < lo || memory > hi || (memory - lo) % step !== 0) {
    throw new ConfigError(`context ${what}Memory ${memory} does not fit ${cpu} CPU units (${lo}..${hi} by ${step})`);
  }
}

// Bedrock model ids and inference profile ids (us.anthropic...:0)
const MODEL_ID = /^[a-z0-9][a-z0-9.:_-]{1,200}$/;

/** The settings from a construct's context (the App's), checked. */
export function readConfig(node: Node): MangooConfig {
  const raw: Raw = {};
  for (const key of Object.keys(DEFAULTS)) {
    const v = node.tryGetContext(key);
    if (v !== undefined) raw[key] = v;
  }
  const cfg: MangooConfig = {
    imageTag: str(raw, 'imageTag', /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/),
    nginxRepository: str(raw, 'nginxRepository', /^[a-z0-9][a-z0-9._\/-]{1,255}$/),
    workerRepository: str(raw, 'workerRepository', /^[a-z0-9][a-z0-9._\/-]{1,255}$/),
    nginxImage: str(raw, 'nginxImage', /^[^\s]+$/),
    workerImage: str(raw, 'workerImage', /^[^\s]+$/),
    buildImages: bool(raw, 'buildImages'),
    natGateways: num(raw, 'natGateways', 0, 3),
    vpcCidr: str(raw, 'vpcCidr', /^(\d{1,3}\.){3}\d{1,3}\/1[6-8]$/),
    domainName: str(raw, 'domainName', /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/),
    certificateArn: str(raw, 'certificateArn', /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/),
    idleTimeout: num(raw, 'idleTimeout', 120, 4000),
    nginxCpu: num(raw, 'nginxCpu', 256, 4096),
    nginxMemory: num(raw, 'nginxMemory', 512, 30720),
    nginxMin: num(raw, 'nginxMin', 1, 100),
    nginxMax: num(raw, 'nginxMax', 1, 100),
    nginxCpuTarget: num(raw, 'nginxCpuTarget', 10, 90),
    workerCpu: num(raw, 'workerCpu', 256, 4096),
    workerMemory: num(raw, 'workerMemory', 512, 30720),
    workerMin: num(raw, 'workerMin', 1, 100),
    workerMax: num(raw, 'workerMax', 1, 100),
    workerCpuTarget: num(raw, 'workerCpuTarget', 10, 90),
    workerQueueTarget: num(raw, 'workerQueueTarget', 1, 10000),
    workerThreads: num(raw, 'workerThreads', 1, 256),
    stopTimeout: num(raw, 'stopTimeout', 2, 120),
    namespace: str(raw, 'namespace', /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/),
    dbEngineVersion: str(raw, 'dbEngineVersion', /^15\.\d+$/),
    dbMinAcu: num(raw, 'dbMinAcu', 0, 256, false),
    dbMaxAcu: num(raw, 'dbMaxAcu', 1, 256, false),
    dbReaders: num(raw, 'dbReaders', 0, 15),
    dbBackupDays: num(raw, 'dbBackupDays', 1, 35),
    dbDeletionProtection: bool(raw, 'dbDeletionProtection'),
    bedrockModels: list(raw, 'bedrockModels', MODEL_ID),
    bedrockEmbeddingModels: list(raw, 'bedrockEmbeddingModels', MODEL_ID),
    cognitoDomainPrefix: str(raw, 'cognitoDomainPrefix', /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/),
    cognitoClientSecret: bool(raw, 'cognitoClientSecret'),
    selfSignUp: bool(raw, 'selfSignUp'),
    waf: bool(raw, 'waf'),
    wafRateLimit: num(raw, 'wafRateLimit', 100, 2000000000),
    wafCountRules: list(raw, 'wafCountRules', /^[A-Za-z0-9_]{1,128}$/),
    logRetentionDays: num(raw, 'logRetentionDays', 1, 3653),
    containerInsights: bool(raw, 'containerInsights'),
    emfInterval: num(raw, 'emfInterval', 10, 3600),
    alarmEmail: str(raw, 'alarmEmail', /^[^@\s]+@[^@\s]+\.[^@\s]+$/),
    alarm5xxThreshold: num(raw, 'alarm5xxThreshold', 1, 1000000),
    alarmTtftSeconds: num(raw, 'alarmTtftSeconds', 0.1, 600, false),
    alarmQueueDepth: num(raw, 'alarmQueueDepth', 1, 1000000),
  };
  fargate(cfg.nginxCpu, cfg.nginxMemory, 'nginx');
  fargate(cfg.workerCpu, cfg.workerMemory, 'worker');
  if (cfg.nginxMin > cfg.nginxMax) throw new ConfigError('context nginxMin is more than nginxMax');
  if (cfg.workerMin > cfg.workerMax) throw new ConfigError('context workerMin is more than workerMax');
  if (cfg.dbMinAcu > cfg.dbMaxAcu) throw new ConfigError('context dbMinAcu is more than dbMaxAcu');
  if (cfg.dbMinAcu * 2 !== Math.round(cfg.dbMinAcu * 2) || cfg.dbMaxAcu * 2 !== Math.round(cfg.dbMaxAcu * 2)) {
    throw new ConfigError('context dbMinAcu and dbMaxAcu go in steps of 0.5');
  }
  if (cfg.emfInterval !== 10 && cfg.emfInterval !== 30 && cfg.emfInterval % 60 !== 0) {
    throw new ConfigError('context emfInterval must be 10, 30 or a multiple of 60 (a CloudWatch period)');
  }
  if (!LOG_RETENTION_DAYS.includes(cfg.logRetentionDays)) {
    throw new ConfigError(`context logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  if (/aws|amazon|cognito/.test(cfg.cognitoDomainPrefix)) {
    throw new ConfigError('context cognitoDomainPrefix may not contain aws, amazon or cognito');
  }
  if (cfg.bedrockModels.length + cfg.bedrockEmbeddingModels.length === 0) {
    throw new ConfigError('context bedrockModels and bedrockEmbeddingModels are both empty');
  }
  return cfg;
}

/** The worker's own drain time: a few seconds under the container's stop timeout. */
export function workerDrainSeconds(stopTimeout: number): number {
  return Math.max(1, stopTimeout - 5);
}
