// Alarms and their topic, and that the stack synthesises with nothing
// looked up in an account.
import { beforeAll, describe, expect, it } from 'vitest';
import { App } from 'aws-cdk-lib';
import { MangooStack } from '../lib/mangoo-stack';
import { STACK, Synth, only, outdir, resources, synth } from './helpers';

describe('alarms', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  const alarms = (x: Synth) => resources(x, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);

  it('alarm on the load balancer\'s 5xx answers, its own and nginx\'s', () => {
    const [albId] = only(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const a = alarms(s).filter((p) => p.Metrics !== undefined);
    expect(a).toHaveLength(1);
    const names = (a[0].Metrics as any[]).filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric.MetricName);
    expect(names.sort()).toEqual(['HTTPCode_ELB_5XX_Count', 'HTTPCode_Target_5XX_Count']);
    for (const m of (a[0].Metrics as any[]).filter((x) => x.MetricStat)) {
      expect(m.MetricStat.Metric.Namespace).toBe('AWS/ApplicationELB');
      expect(JSON.stringify(m.MetricStat.Metric.Dimensions)).toContain(albId);
    }
    expect(a[0].Threshold).toBe(10);
    expect(a[0].ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
  });

  it('alarm on the workers\' time to first token and queue depth, from their EMF metrics', () => {
    const byName = Object.fromEntries(alarms(s).filter((p) => p.MetricName).map((p) => [p.MetricName, p]));
    expect(Object.keys(byName).sort()).toEqual(['QueueDepth', 'TimeToFirstToken']);
    for (const p of Object.values(byName) as any[]) {
      expect(p.Namespace).toBe('Mangoo');
      expect(p.Dimensions).toEqual([{ Name: 'Service', Value: `${STACK}-worker` }]);
      expect(p.TreatMissingData).toBe('notBreaching');
    }
    expect(byName.TimeToFirstToken.Threshold).toBe(10);
    expect(byName.TimeToFirstToken.Statistic).toBe('Average');
    expect(byName.QueueDepth.Threshold).toBe(50);
    expect(byName.QueueDepth.Statistic).toBe('Maximum');
    const t = synth({ alarmTtftSeconds: 4.5, alarmQueueDepth: 200, alarm5xxThreshold: 3 });
    const thresholds = alarms(t).map((p) => p.MetricName ?? '5xx').sort();
    expect(thresholds).toEqual(['5xx', 'QueueDepth', 'TimeToFirstToken']);
    expect(alarms(t).find((p) => p.MetricName === 'TimeToFirstToken').Threshold).toBe(4.5);
    expect(alarms(t).find((p) => p.MetricName === 'QueueDepth').Threshold).toBe(200);
    expect(alarms(t).find((p) => p.Metrics).Threshold).toBe(3);
  });

  it('send every alarm to one SNS topic, and to an e-mail address when given', () => {
    const [topicId] = only(s, 'AWS::SNS::Topic');
    const all = alarms(s);
    expect(all).toHaveLength(3);
    for (const p of all) {
      expect(p.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(p.OKActions).toEqual([{ Ref: topicId }]);
    }
    expect(resources(s, 'AWS::SNS::Subscription')).toHaveLength(0);
    const t = synth({ alarmEmail: 'ops@example.com' });
    t.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    expect(() => synth({ alarmEmail: 'nobody' })).toThrow(/alarmEmail/);
  });
});

describe('the stack', () => {
  it('synthesises without an account, credentials or lookups', () => {
    const app = new App({ outdir: outdir() });
    const stack = new MangooStack(app, STACK);
    const assembly = app.synth();
    expect(assembly.manifest.missing ?? []).toEqual([]);
    const artifact = assembly.getStackByName(STACK);
    expect(artifact.environment.account).toBe('unknown-account');
    expect(artifact.environment.region).toBe('unknown-region');
    expect(stack.resolve(stack.account)).toEqual({ Ref: 'AWS::AccountId' });
  });

  it('tells the operator where things are', () => {
    const s = synth();
    const outputs = Object.keys(s.template.toJSON().Outputs).sort();
    expect(outputs).toEqual(
      [
        'AlarmTopicArn',
        'ClusterName',
        'DatabaseSecretArn',
        'HostedUiUrl',
        'LoadBalancerDns',
        'NginxLogGroup',
        'Url',
        'UserPoolClientId',
        'UserPoolId',
        'WorkerLogGroup',
      ].sort(),
    );
  });

  it('refuses settings that do not exist on Fargate or in CloudWatch', () => {
    expect(() => synth({ nginxCpu: 300 })).toThrow(/nginxCpu/);
    expect(() => synth({ natGateways: -1 })).toThrow(/natGateways/);
    expect(() => synth({ waf: 'maybe' })).toThrow(/waf/);
    expect(() => synth({ workerThreads: 0 })).toThrow(/workerThreads/);
  });
});
