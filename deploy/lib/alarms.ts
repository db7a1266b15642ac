// What pages someone: the load balancer's 5xx answers, a slow time to
// first token, and a worker queue that does not drain, each to one SNS
// topic (an e-mail subscription when alarmEmail is given).
import { Construct } from 'constructs';
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { MangooConfig } from './config';
import { Services } from './services';

export interface AlarmsProps {
  readonly config: MangooConfig;
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly services: Services;
}

export class Alarms extends Construct {
  readonly topic: sns.Topic;
  readonly alb5xx: cloudwatch.Alarm;
  readonly timeToFirstToken: cloudwatch.Alarm;
  readonly queueDepth: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const cfg = props.config;
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Mangoo alarms' });
    if (cfg.alarmEmail !== '') {
      this.topic.addSubscription(new subscriptions.EmailSubscription(cfg.alarmEmail));
    }
    const action = new actions.SnsAction(this.topic);
    const fiveMinutes = Duration.minutes(5);

    // the balancer's own 5xx (no healthy nginx) and nginx's (502 worker
    // lost, 503 no workers or overloaded, 504 timeouts)
    const fiveXx = new cloudwatch.MathExpression({
      expression: 'FILL(elb, 0) + FILL(target, 0)',
      usingMetrics: {
        elb: props.alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: fiveMinutes, statistic: 'Sum' }),
        target: props.alb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
          period: fiveMinutes,
          statistic: 'Sum',
        }),
      },
      period: fiveMinutes,
      label: '5xx answers',
    });
    this.alb5xx = new cloudwatch.Alarm(this, 'Alb5xx', {
      alarmDescription: `Mangoo: ${cfg.alarm5xxThreshold} or more 5xx answers in 5 minutes`,
      metric: fiveXx,
      threshold: cfg.alarm5xxThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // the workers' mean time to first token (worker/emf.c), the model's
    // own time included: retries, throttling, a slow region
    this.timeToFirstToken = new cloudwatch.Alarm(this, 'TimeToFirstToken', {
      alarmDescription: `Mangoo: mean time to first token over ${cfg.alarmTtftSeconds} s for 15 minutes`,
      metric: props.services.workerMetric('TimeToFirstToken', 'Average', fiveMinutes),
      threshold: cfg.alarmTtftSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // one worker's jobs waiting for its threads, minute after minute:
    // scaling out has not caught up (workerMax, the database)
    const interval = Duration.seconds(Math.max(60, cfg.emfInterval));
    this.queueDepth = new cloudwatch.Alarm(this, 'QueueDepth', {
      alarmDescription: `Mangoo: a worker has had over ${cfg.alarmQueueDepth} jobs waiting for 5 periods`,
      metric: props.services.workerMetric('QueueDepth', 'Maximum', interval),
      threshold: cfg.alarmQueueDepth,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const alarm of [this.alb5xx, this.timeToFirstToken, this.queueDepth]) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}
