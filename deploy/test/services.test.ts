// The two Fargate services: images, discovery, networking, secrets, task
// roles, stop timeouts and autoscaling.
import * as fs from 'fs';
import * as path from 'path';
import { beforeAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MangooStack } from '../lib/mangoo-stack';
import {
  STACK,
  Synth,
  allContainers,
  asArray,
  container,
  env,
  ingressInto,
  only,
  outdir,
  render,
  resources,
  roleStatements,
  serviceGroups,
  serviceOf,
  synth,
  taskOf,
} from './helpers';

// what a setting holding a secret would be called
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_KEY|ACCESS_KEY/i;

describe('worker discovery', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  it('registers the workers in a private namespace as A records with a short TTL', () => {
    const [nsId, ns] = only(s, 'AWS::ServiceDiscovery::PrivateDnsNamespace');
    expect(ns.Properties.Name).toBe('mangoo.internal');
    const [sdId, sd] = only(s, 'AWS::ServiceDiscovery::Service');
    expect(sd.Properties.Name).toBe('worker');
    expect(render(sd.Properties.NamespaceId)).toBe(`\${${nsId}.Id}`);
    const records = sd.Properties.DnsConfig.DnsRecords as { Type: string; TTL: number }[];
    expect(records).toHaveLength(1);
    expect(records[0].Type).toBe('A');
    expect(records[0].TTL).toBeLessThanOrEqual(10);
    const [, worker] = serviceOf(s, 'worker');
    expect(render(worker.Properties.ServiceRegistries[0].RegistryArn)).toBe(`\${${sdId}.Arn}`);
  });

  it('points nginx at that name, re-resolved through the VPC resolver', () => {
    const e = env(container(s, 'nginx'));
    expect(e.MANGOO_WORKER_ENDPOINTS).toBe('tcp://worker.mangoo.internal:5555 resolve');
    expect(e.MANGOO_RESOLVER).toBe('169.254.169.253 valid=5s');
    const t = synth({ namespace: 'svc.example' });
    expect(only(t, 'AWS::ServiceDiscovery::PrivateDnsNamespace')[1].Properties.Name).toBe('svc.example');
    expect(env(container(t, 'nginx')).MANGOO_WORKER_ENDPOINTS).toBe('tcp://worker.svc.example:5555 resolve');
  });

  it('believes X-Forwarded-For from the VPC alone (the load balancer)', () => {
    expect(env(container(s, 'nginx')).MANGOO_REAL_IP_FROM).toBe('10.40.0.0/16');
    const t = synth({ vpcCidr: '10.9.0.0/16' });
    expect(env(container(t, 'nginx')).MANGOO_REAL_IP_FROM).toBe('10.9.0.0/16');
  });

  it('lets only nginx reach the workers, on 5555', () => {
    const [workerSg] = serviceGroups(s, 'worker');
    const [nginxSg] = serviceGroups(s, 'nginx');
    const rules = ingressInto(s, workerSg);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ IpProtocol: 'tcp', FromPort: 5555, ToPort: 5555 });
    expect(rules[0].SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [nginxSg, 'GroupId'] });
    expect(workerSg).not.toBe(nginxSg);
  });

  it('lets only the load balancer reach nginx, on 8080', () => {
    const [nginxSg] = serviceGroups(s, 'nginx');
    const rules = ingressInto(s, nginxSg);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ FromPort: 8080, ToPort: 8080 });
    const [albId, alb] = only(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    expect(alb.Properties.SecurityGroups).toEqual([rules[0].SourceSecurityGroupId]);
    expect(albId).toBeTruthy();
  });
});

describe('containers', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  it('runs the images from the ECR repositories with the tag, or what the context names', () => {
    expect(render(container(s, 'worker').Image)).toBe('${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/mangoo-worker:latest');
    expect(render(container(s, 'nginx').Image)).toBe('${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/mangoo-nginx:latest');
    const t = synth({ imageTag: 'v1.4.2', workerRepository: 'team/worker' });
    expect(render(container(t, 'worker').Image)).toMatch(/\/team\/worker:v1\.4\.2$/);
    expect(render(container(t, 'nginx').Image)).toMatch(/\/mangoo-nginx:v1\.4\.2$/);
    const u = synth({ nginxImage: 'registry.example/mangoo/nginx@sha256:abc', workerImage: 'registry.example/w:1' });
    expect(container(u, 'nginx').Image).toBe('registry.example/mangoo/nginx@sha256:abc');
    expect(container(u, 'worker').Image).toBe('registry.example/w:1');
  });

  it('builds the images from the repository Dockerfiles when asked (no Docker at synth)', () => {
    const dir = outdir();
    try {
      const app = new App({ context: { buildImages: true }, outdir: dir });
      const stack = new MangooStack(app, STACK);
      const assembly = app.synth();
      const assets = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${STACK}.assets.json`), 'utf8'));
      const images = Object.values(assets.dockerImages as Record<string, any>);
      expect(images.map((a) => a.source.dockerFile).sort()).toEqual(['ngx_mangoo_module/Dockerfile', 'worker/Dockerfile']);
      for (const a of images) {
        expect(a.source.platform).toBe('linux/amd64');
        // the build context is the repository, without the deploy folder or builds
        const staged = path.join(assembly.directory, a.source.directory);
        expect(fs.existsSync(path.join(staged, 'worker', 'Dockerfile'))).toBe(true);
        expect(fs.existsSync(path.join(staged, 'deploy'))).toBe(false);
        expect(fs.existsSync(path.join(staged, 'build'))).toBe(false);
      }
      expect(stack.config.buildImages).toBe(true);
      const template = Template.fromStack(stack).toJSON();
      const workerTask = Object.values(template.Resources as Record<string, any>).find(
        (r) => r.Type === 'AWS::ECS::TaskDefinition' && r.Properties.ContainerDefinitions[0].Name === 'worker',
      );
      expect(render(workerTask.Properties.ContainerDefinitions[0].Image)).toContain('container-assets');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps every secret out of the environment and gives the database password as an ECS secret', () => {
    const [secretId] = only(s, 'AWS::SecretsManager::SecretTargetAttachment');
    for (const c of allContainers(s)) {
      for (const e of c.Environment ?? []) {
        expect(e.Name).not.toMatch(SECRET_NAME);
        const text = JSON.stringify(e.Value);
        expect(text).not.toContain('resolve:secretsmanager');
        expect(text).not.toContain(secretId);
      }
    }
    const w = container(s, 'worker');
    const secrets = Object.fromEntries((w.Secrets ?? []).map((x) => [x.Name, render(x.ValueFrom)]));
    expect(secrets).toEqual({
      PGHOST: `\${${secretId}}:host::`,
      PGPORT: `\${${secretId}}:port::`,
      PGDATABASE: `\${${secretId}}:dbname::`,
      PGUSER: `\${${secretId}}:username::`,
      PGPASSWORD: `\${${secretId}}:password::`,
    });
    const e = env(w);
    expect(e.MANGOO_DB).toBe('sslmode=require');
    for (const name of Object.keys(e)) expect(name).not.toMatch(/^PG/);
    expect(container(s, 'nginx').Secrets).toBeUndefined();
  });

  it('gives a confidential Cognito client secret to the workers as an ECS secret only', () => {
    expect(env(container(s, 'worker')).MANGOO_COGNITO_CLIENT_SECRET).toBeUndefined();
    const t = synth({ cognitoClientSecret: true });
    const [clientSecretId] = resources(t, 'AWS::SecretsManager::Secret').find(([id]) => id.includes('ClientSecret'))!;
    const w = container(t, 'worker');
    expect(env(w).MANGOO_COGNITO_CLIENT_SECRET).toBeUndefined();
    const secret = (w.Secrets ?? []).find((x) => x.Name === 'MANGOO_COGNITO_CLIENT_SECRET');
    expect(secret).toBeDefined();
    expect(secret!.ValueFrom).toEqual({ Ref: clientSecretId });
    for (const c of allContainers(t)) {
      for (const e of c.Environment ?? []) expect(e.Name).not.toMatch(SECRET_NAME);
    }
    t.template.hasResourceProperties('AWS::Cognito::UserPoolClient', { GenerateSecret: true });
  });

  it('sets the stop timeout on both containers, and the worker drains a few seconds under it', () => {
    expect(container(s, 'worker').StopTimeout).toBe(30);
    expect(container(s, 'nginx').StopTimeout).toBe(30);
    expect(env(container(s, 'worker')).MANGOO_STOP_TIMEOUT).toBe('25');
    const t = synth({ stopTimeout: 60 });
    expect(container(t, 'worker').StopTimeout).toBe(60);
    expect(container(t, 'nginx').StopTimeout).toBe(60);
    expect(env(container(t, 'worker')).MANGOO_STOP_TIMEOUT).toBe('55');
    expect(env(container(synth({ stopTimeout: 4 }), 'worker')).MANGOO_STOP_TIMEOUT).toBe('1');
    expect(() => synth({ stopTimeout: 121 })).toThrow(/stopTimeout/);
  });

  it('ships both logs to their own log groups with a retention, without blocking the processes', () => {
    const groups = resources(s, 'AWS::Logs::LogGroup');
    expect(groups).toHaveLength(2);
    for (const [, g] of groups) expect(g.Properties.RetentionInDays).toBe(30);
    const used = ['worker', 'nginx'].map((n) => {
      const log = container(s, n).LogConfiguration;
      expect(log.LogDriver).toBe('awslogs');
      expect(log.Options.mode).toBe('non-blocking');
      return log.Options['awslogs-group'].Ref as string;
    });
    expect(new Set(used)).toEqual(new Set(groups.map(([id]) => id)));
    const t = synth({ logRetentionDays: 90 });
    for (const [, g] of resources(t, 'AWS::Logs::LogGroup')) expect(g.Properties.RetentionInDays).toBe(90);
    expect(() => synth({ logRetentionDays: 31 })).toThrow(/logRetentionDays/);
  });

  it('has the workers publish their metrics (EMF) under the dimension the stack scales on', () => {
    const e = env(container(s, 'worker'));
    expect(e.MANGOO_EMF_INTERVAL).toBe('60');
    expect(e.MANGOO_EMF_SERVICE).toBe(`${STACK}-worker`);
    expect(() => synth({ emfInterval: 45 })).toThrow(/emfInterval/);
  });

  it('gives the workers Cognito and the models, and starts them after the database', () => {
    const e = env(container(s, 'worker'));
    expect(e.MANGOO_COGNITO_DOMAIN).toMatch(/^https:\/\/\$\{.+\}\.auth\.\$\{AWS::Region\}\.amazoncognito\.com$/);
    expect(e.MANGOO_BEDROCK_MODELS).toBe(
      'anthropic.claude-3-5-sonnet-20241022-v2:0,anthropic.claude-3-5-haiku-20241022-v1:0,anthropic.claude-3-haiku-20240307-v1:0',
    );
    const [dbId] = only(s, 'AWS::RDS::DBCluster');
    expect(e.MANGOO_BIND).toBe('tcp://0.0.0.0:5555');
    // the database exists before the first worker migrates it
    const [, svc] = serviceOf(s, 'worker');
    expect(svc.DependsOn).toEqual(expect.arrayContaining([dbId]));
  });

  it('runs the tasks in private subnets behind NAT, or in public ones with an address without NAT', () => {
    for (const n of ['worker', 'nginx']) {
      const cfg = serviceOf(s, n)[1].Properties.NetworkConfiguration.AwsvpcConfiguration;
      expect(cfg.AssignPublicIp).toBe('DISABLED');
      for (const sub of cfg.Subnets) {
        const tags = s.json.Resources[sub.Ref].Properties.Tags as { Key: string; Value: string }[];
        expect(tags).toContainEqual({ Key: 'aws-cdk:subnet-type', Value: 'Private' });
      }
    }
    expect(resources(s, 'AWS::EC2::NatGateway')).toHaveLength(1);
    const t = synth({ natGateways: 0 });
    expect(resources(t, 'AWS::EC2::NatGateway')).toHaveLength(0);
    for (const n of ['worker', 'nginx']) {
      const cfg = serviceOf(t, n)[1].Properties.NetworkConfiguration.AwsvpcConfiguration;
      expect(cfg.AssignPublicIp).toBe('ENABLED');
      for (const sub of cfg.Subnets) {
        const tags = t.json.Resources[sub.Ref].Properties.Tags as { Key: string; Value: string }[];
        expect(tags).toContainEqual({ Key: 'aws-cdk:subnet-type', Value: 'Public' });
      }
    }
    const u = synth({ natGateways: 2, vpcCidr: '10.9.0.0/16' });
    expect(resources(u, 'AWS::EC2::NatGateway')).toHaveLength(2);
    expect(only(u, 'AWS::EC2::VPC')[1].Properties.CidrBlock).toBe('10.9.0.0/16');
    expect(only(s, 'AWS::EC2::VPC')[1].Properties.CidrBlock).toBe('10.40.0.0/16');
  });
});

describe('task roles', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  const roleOf = (x: Synth, name: string) => taskOf(x, name)[1].Properties.TaskRoleArn['Fn::GetAtt'][0] as string;

  it('lets the workers invoke exactly the configured Bedrock models', () => {
    const statements = roleStatements(s, roleOf(s, 'worker'));
    expect(statements).toHaveLength(1);
    expect(statements[0].Effect).toBe('Allow');
    expect(asArray(statements[0].Action).sort()).toEqual(['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
    const fm = (id: string) => `arn:\${AWS::Partition}:bedrock:\${AWS::Region}::foundation-model/${id}`;
    expect(asArray(statements[0].Resource).map(render).sort()).toEqual(
      [
        fm('anthropic.claude-3-5-sonnet-20241022-v2:0'),
        fm('anthropic.claude-3-5-haiku-20241022-v1:0'),
        fm('anthropic.claude-3-haiku-20240307-v1:0'),
        fm('amazon.titan-embed-text-v2:0'),
      ].sort(),
    );
  });

  it('follows the model lists in the context; an inference profile only through itself', () => {
    const t = synth({
      bedrockModels: 'us.anthropic.claude-3-7-sonnet-20250219-v1:0,mistral.mistral-large-2402-v1:0',
      bedrockEmbeddingModels: '[]',
    });
    const statements = roleStatements(t, roleOf(t, 'worker'));
    expect(statements).toHaveLength(2);
    const [direct, via] = statements;
    expect(asArray(direct.Resource).map(render).sort()).toEqual([
      'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0',
      'arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/mistral.mistral-large-2402-v1:0',
    ]);
    expect(asArray(via.Resource).map(render)).toEqual([
      'arn:${AWS::Partition}:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0',
    ]);
    expect(Object.keys(via.Condition.StringEquals)).toEqual(['bedrock:InferenceProfileArn']);
    expect(asArray(via.Condition.StringEquals['bedrock:InferenceProfileArn']).map(render)).toEqual([
      'arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0',
    ]);
    expect(env(container(t, 'worker')).MANGOO_BEDROCK_MODELS).toBe(
      'us.anthropic.claude-3-7-sonnet-20250219-v1:0,mistral.mistral-large-2402-v1:0',
    );
    expect(() => synth({ bedrockModels: 'bad model id' })).toThrow(/bedrockModels/);
  });

  it('grants the workers no wildcard resource and nothing but Bedrock', () => {
    for (const st of roleStatements(s, roleOf(s, 'worker'))) {
      expect(asArray(st.Resource)).not.toContain('*');
      for (const a of asArray(st.Action)) expect(a).toMatch(/^bedrock:Invoke/);
    }
  });

  it('gives nginx a task role with no permissions at all', () => {
    const role = roleOf(s, 'nginx');
    expect(roleStatements(s, role)).toEqual([]);
    const r = s.json.Resources[role].Properties;
    expect(r.ManagedPolicyArns).toBeUndefined();
    expect(r.Policies).toBeUndefined();
  });

  it('lets only the workers\' execution role read the database secret', () => {
    const [secretId] = only(s, 'AWS::SecretsManager::SecretTargetAttachment');
    const readers = resources(s, 'AWS::IAM::Policy').filter(([, p]) =>
      (p.Properties.PolicyDocument.Statement as any[]).some(
        (st) => asArray(st.Action).includes('secretsmanager:GetSecretValue') && JSON.stringify(st.Resource).includes(secretId),
      ),
    );
    expect(readers).toHaveLength(1);
    const workerExec = taskOf(s, 'worker')[1].Properties.ExecutionRoleArn['Fn::GetAtt'][0];
    expect(readers[0][1].Properties.Roles).toEqual([{ Ref: workerExec }]);
  });
});

describe('autoscaling', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ workerMax: 12, nginxMin: 3 });
  });

  // the scalable target of the service running container name
  function target(name: string): [string, any] {
    const [svcId] = serviceOf(s, name);
    const found = resources(s, 'AWS::ApplicationAutoScaling::ScalableTarget').filter(([, r]) =>
      render(r.Properties.ResourceId).endsWith(`/\${${svcId}.Name}`),
    );
    expect(found).toHaveLength(1);
    return [found[0][0], found[0][1].Properties];
  }
  function policies(targetId: string): any[] {
    return resources(s, 'AWS::ApplicationAutoScaling::ScalingPolicy')
      .map(([, r]) => r.Properties)
      .filter((p) => p.ScalingTargetId.Ref === targetId);
  }

  it('scales nginx on CPU', () => {
    const [id, t] = target('nginx');
    expect(t.MinCapacity).toBe(3);
    expect(t.MaxCapacity).toBe(6);
    expect(t.ScalableDimension).toBe('ecs:service:DesiredCount');
    const p = policies(id);
    expect(p).toHaveLength(1);
    expect(p[0].PolicyType).toBe('TargetTrackingScaling');
    expect(p[0].TargetTrackingScalingPolicyConfiguration).toMatchObject({
      PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      TargetValue: 60,
    });
  });

  it('scales the workers on CPU and on the queue depth they report', () => {
    const [id, t] = target('worker');
    expect(t.MinCapacity).toBe(2);
    expect(t.MaxCapacity).toBe(12);
    const p = policies(id).map((x) => x.TargetTrackingScalingPolicyConfiguration);
    expect(p).toHaveLength(2);
    const cpu = p.find((x) => x.PredefinedMetricSpecification !== undefined);
    expect(cpu.PredefinedMetricSpecification.PredefinedMetricType).toBe('ECSServiceAverageCPUUtilization');
    const queue = p.find((x) => x.CustomizedMetricSpecification !== undefined);
    expect(queue.CustomizedMetricSpecification).toMatchObject({
      Namespace: 'Mangoo',
      MetricName: 'QueueDepth',
      Statistic: 'Average',
      Dimensions: [{ Name: 'Service', Value: `${STACK}-worker` }],
    });
    expect(queue.TargetValue).toBe(4);
    // the dimension is the one the workers are told to write
    expect(env(container(s, 'worker')).MANGOO_EMF_SERVICE).toBe(queue.CustomizedMetricSpecification.Dimensions[0].Value);
  });

  it('refuses a minimum over the maximum', () => {
    expect(() => synth({ workerMin: 5, workerMax: 4 })).toThrow(/workerMin/);
    expect(() => synth({ workerCpu: 1024, workerMemory: 1024 })).toThrow(/workerMemory/);
  });
});
