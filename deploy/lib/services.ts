// The two Fargate services and what they run with: nginx with the module
// and the web app behind the load balancer, the workers registered in
// Cloud Map (worker.<namespace>, A records, short TTL) that nginx
// re-resolves; their log groups (awslogs: both write JSON lines), their
// task roles (the workers may call the configured Bedrock models, nginx
// nothing), the database credentials as ECS secrets, and autoscaling:
// nginx on CPU, the workers on CPU and on the queue depth they report
// (CloudWatch Embedded Metric Format lines, worker/emf.c).
import * as path from 'path';
import { Construct } from 'constructs';
import { Aws, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { bedrockStatements } from './bedrock';
import { MangooConfig, workerDrainSeconds } from './config';
import { NGINX_PORT } from './edge';
import { Identity } from './identity';

export const WORKER_PORT = 5555;
export const WORKER_DNS_NAME = 'worker';
/** The Amazon-provided DNS server, reachable from every VPC. */
export const VPC_RESOLVER = '169.254.169.253';
export const EMF_NAMESPACE = 'Mangoo';

/** The repository root: the images' build context. */
const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** Not part of either image (and cdk.out must never copy itself). */
const BUILD_EXCLUDE = [
  '.git', '.ci', '.state', 'build', 'deploy', 'tests', '**/node_modules', 'web/dist', 'docker-compose.yml',
];

export interface ServicesProps {
  readonly config: MangooConfig;
  readonly vpc: ec2.IVpc;
  readonly taskSubnets: ec2.SubnetSelection;
  readonly taskPublicIp: boolean;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly database: rds.DatabaseCluster;
  readonly databaseSecret: secretsmanager.ISecret;
  readonly identity: Identity;
}

export class Services extends Construct {
  readonly cluster: ecs.Cluster;
  readonly namespace: servicediscovery.PrivateDnsNamespace;
  readonly nginx: ecs.FargateService;
  readonly worker: ecs.FargateService;
  readonly nginxTask: ecs.FargateTaskDefinition;
  readonly workerTask: ecs.FargateTaskDefinition;
  readonly nginxLogs: logs.LogGroup;
  readonly workerLogs: logs.LogGroup;
  /** The Service dimension of the workers' metrics. */
  readonly metricsService: string;

  constructor(scope: Construct, id: string, props: ServicesProps) {
    super(scope, id);
    const cfg = props.config;
    const stopTimeout = Duration.seconds(cfg.stopTimeout);
    this.metricsService = `${Stack.of(this).stackName}-worker`;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: cfg.containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    this.namespace = new servicediscovery.PrivateDnsNamespace(this, 'Namespace', {
      name: cfg.namespace,
      vpc: props.vpc,
      description: 'Mangoo: the workers, for nginx',
    });

    this.nginxLogs = this.logGroup('NginxLogs', cfg.logRetentionDays);
    this.workerLogs = this.logGroup('WorkerLogs', cfg.logRetentionDays);

    // ---- workers ----
    this.workerTask = new ecs.FargateTaskDefinition(this, 'WorkerTask', {
      cpu: cfg.workerCpu,
      memoryLimitMiB: cfg.workerMemory,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    for (const st of bedrockStatements([...cfg.bedrockModels, ...cfg.bedrockEmbeddingModels])) {
      this.workerTask.addToTaskRolePolicy(st);
    }
    // libpq reads the connection's settings from PG* variables: all of
    // them from the database's secret (its JSON fields), none written here
    const workerSecrets: Record<string, ecs.Secret> = {
      PGHOST: ecs.Secret.fromSecretsManager(props.databaseSecret, 'host'),
      PGPORT: ecs.Secret.fromSecretsManager(props.databaseSecret, 'port'),
      PGDATABASE: ecs.Secret.fromSecretsManager(props.databaseSecret, 'dbname'),
      PGUSER: ecs.Secret.fromSecretsManager(props.databaseSecret, 'username'),
      PGPASSWORD: ecs.Secret.fromSecretsManager(props.databaseSecret, 'password'),
    };
    if (props.identity.clientSecret !== undefined) {
      workerSecrets.MANGOO_COGNITO_CLIENT_SECRET = ecs.Secret.fromSecretsManager(props.identity.clientSecret);
    }
    this.workerTask.addContainer('worker', {
      image: this.image('Worker', cfg.buildImages, cfg.workerImage, cfg.workerRepository, cfg.imageTag, 'worker/Dockerfile'),
      // migrations run at start under a PostgreSQL advisory lock
      // (worker/db/migrate.c): with several workers starting at once one
      // applies them, the others wait and find them applied
      command: ['serve'],
      environment: {
        MANGOO_BIND: `tcp://0.0.0.0:${WORKER_PORT}`,
        // the rest of the connection comes from the secret (PG* above)
        MANGOO_DB: 'sslmode=require',
        MANGOO_THREADS: String(cfg.workerThreads),
        MANGOO_ISSUER: props.identity.issuer,
        MANGOO_CLIENT_ID: props.identity.client.userPoolClientId,
        MANGOO_COGNITO_DOMAIN: props.identity.hostedUiUrl,
        MANGOO_BEDROCK_MODELS: cfg.bedrockModels.join(','),
        AWS_REGION: Aws.REGION,
        MANGOO_EMF_INTERVAL: String(cfg.emfInterval),
        MANGOO_EMF_SERVICE: this.metricsService,
        MANGOO_STOP_TIMEOUT: String(workerDrainSeconds(cfg.stopTimeout)),
      },
      secrets: workerSecrets,
      portMappings: [{ containerPort: WORKER_PORT, protocol: ecs.Protocol.TCP, name: 'zmq' }],
      stopTimeout,
      // the broker answers a metrics scrape itself, however busy the pool
      healthCheck: {
        command: ['CMD', '/usr/local/bin/mangoo-worker', 'metrics', `tcp://127.0.0.1:${WORKER_PORT}`, '--timeout', '3000'],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(120),
      },
      logging: this.logDriver(this.workerLogs, 'worker'),
    });
    this.worker = new ecs.FargateService(this, 'Worker', {
      cluster: this.cluster,
      taskDefinition: this.workerTask,
      desiredCount: cfg.workerMin,
      vpcSubnets: props.taskSubnets,
      assignPublicIp: props.taskPublicIp,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      cloudMapOptions: {
        cloudMapNamespace: this.namespace,
        name: WORKER_DNS_NAME,
        dnsRecordType: servicediscovery.DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
      },
    });
    // the first workers start once the database can be migrated
    this.worker.node.addDependency(props.database);

    // ---- nginx ----
    this.nginxTask = new ecs.FargateTaskDefinition(this, 'NginxTask', {
      cpu: cfg.nginxCpu,
      memoryLimitMiB: cfg.nginxMemory,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.nginxTask.addContainer('nginx', {
      image: this.image('Nginx', cfg.buildImages, cfg.nginxImage, cfg.nginxRepository, cfg.imageTag, 'ngx_mangoo_module/Dockerfile'),
      environment: {
        // every worker task's address, looked up again as they come and go
        MANGOO_WORKER_ENDPOINTS: `tcp://${WORKER_DNS_NAME}.${cfg.namespace}:${WORKER_PORT} resolve`,
        MANGOO_RESOLVER: `${VPC_RESOLVER} valid=5s`,
        // the load balancer is in the VPC: the client's address from its
        // X-Forwarded-For, for the logs, the sign-in limit and /metrics
        MANGOO_REAL_IP_FROM: cfg.vpcCidr,
        // Cognito's keys, fetched by a worker for nginx (README "Identity")
        MANGOO_JWKS: props.identity.jwksUrl,
        MANGOO_ISSUER: props.identity.issuer,
        MANGOO_CLIENT_ID: props.identity.client.userPoolClientId,
      },
      portMappings: [{ containerPort: NGINX_PORT, protocol: ecs.Protocol.TCP, name: 'http' }],
      stopTimeout,
      logging: this.logDriver(this.nginxLogs, 'nginx'),
    });
    this.nginx = new ecs.FargateService(this, 'Nginx', {
      cluster: this.cluster,
      taskDefinition: this.nginxTask,
      desiredCount: cfg.nginxMin,
      vpcSubnets: props.taskSubnets,
      assignPublicIp: props.taskPublicIp,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
    });
    this.nginx.attachToApplicationTargetGroup(props.targetGroup);
    // the workers' only way in: nginx, on the ZeroMQ port
    this.worker.connections.allowFrom(this.nginx, ec2.Port.tcp(WORKER_PORT), 'nginx to the workers (ZeroMQ)');
    props.database.connections.allowDefaultPortFrom(this.worker, 'the workers to PostgreSQL');

    // ---- autoscaling ----
    const nginxScaling = this.nginx.autoScaleTaskCount({ minCapacity: cfg.nginxMin, maxCapacity: cfg.nginxMax });
    nginxScaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: cfg.nginxCpuTarget,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });
    const workerScaling = this.worker.autoScaleTaskCount({ minCapacity: cfg.workerMin, maxCapacity: cfg.workerMax });
    workerScaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: cfg.workerCpuTarget,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });
    workerScaling.scaleToTrackCustomMetric('QueueDepth', {
      metric: this.workerMetric('QueueDepth', 'Average', Duration.seconds(cfg.emfInterval)),
      targetValue: cfg.workerQueueTarget,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    });
  }

  /** One of the workers' EMF metrics (namespace Mangoo, Service dimension). */
  workerMetric(name: string, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: EMF_NAMESPACE,
      metricName: name,
      dimensionsMap: { Service: this.metricsService },
      statistic,
      period,
    });
  }

  private logGroup(id: string, days: number): logs.LogGroup {
    return new logs.LogGroup(this, id, {
      retention: days as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  // never block the process on CloudWatch: lines wait in a buffer instead
  private logDriver(group: logs.ILogGroup, prefix: string): ecs.LogDriver {
    return ecs.LogDrivers.awsLogs({
      logGroup: group,
      streamPrefix: prefix,
      mode: ecs.AwsLogDriverMode.NON_BLOCKING,
      maxBufferSize: Size.mebibytes(25),
    });
  }

  // built from the repository's Dockerfile at deploy, a whole reference,
  // or the ECR repository of this account and region with the tag
  private image(id: string, build: boolean, ref: string, repository: string, tag: string, dockerfile: string): ecs.ContainerImage {
    if (build) {
      return ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: dockerfile,
        exclude: BUILD_EXCLUDE,
        platform: Platform.LINUX_AMD64,
      });
    }
    if (ref !== '') {
      return ecs.ContainerImage.fromRegistry(ref);
    }
    return ecs.ContainerImage.fromEcrRepository(ecr.Repository.fromRepositoryName(this, `${id}Repository`, repository), tag);
  }
}
