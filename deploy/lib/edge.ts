// The way in: an internet-facing Application Load Balancer (idle timeout
// long enough for answer streams, HTTPS when a certificate is given),
// the nginx tasks' target group (health: /health), /metrics refused at
// the edge, and a WAF web ACL: a rate limit per address and AWS's managed
// rule groups.
import { Construct } from 'constructs';
import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';

export const NGINX_PORT = 8080;
export const HEALTH_PATH = '/health';

/** AWS managed rule groups on the web ACL, in priority order. */
export const MANAGED_RULE_GROUPS = [
  'AWSManagedRulesAmazonIpReputationList',
  'AWSManagedRulesKnownBadInputsRuleSet',
  'AWSManagedRulesCommonRuleSet',
];

export interface EdgeProps {
  readonly vpc: ec2.IVpc;
  readonly idleTimeout: number;
  readonly certificateArn: string;
  /** Seconds a deregistered target keeps its requests (the tasks' stop timeout). */
  readonly deregistrationDelay: number;
  readonly waf: boolean;
  readonly wafRateLimit: number;
  /** Rules of the common rule set that count instead of blocking. */
  readonly wafCountRules: string[];
}

export class Edge extends Construct {
  readonly alb: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly listener: elbv2.ApplicationListener;
  readonly https: boolean;
  readonly webAcl?: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: EdgeProps) {
    super(scope, id);
    this.https = props.certificateArn !== '';
    this.alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      idleTimeout: Duration.seconds(props.idleTimeout),
      dropInvalidHeaderFields: true,
    });
    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'Nginx', {
      vpc: props.vpc,
      targetType: elbv2.TargetType.IP,
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: NGINX_PORT,
      deregistrationDelay: Duration.seconds(props.deregistrationDelay),
      healthCheck: {
        path: HEALTH_PATH,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    if (this.https) {
      this.listener = this.alb.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [this.targetGroup],
      });
      this.alb.addRedirect({ sourcePort: 80, targetPort: 443 });
    } else {
      this.listener = this.alb.addListener('Http', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultTargetGroups: [this.targetGroup],
      });
    }
    // nginx sees the load balancer's address, which its /metrics allows
    // nothing of; refused here all the same
    this.listener.addAction('NoMetrics', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'application/json',
        messageBody: '{"error":{"code":"not_found","message":"no such resource"}}',
      }),
    });

    if (props.waf) {
      this.webAcl = this.webAclFor(props.wafRateLimit, props.wafCountRules);
      new wafv2.CfnWebACLAssociation(this, 'WafAlb', {
        resourceArn: this.alb.loadBalancerArn,
        webAclArn: this.webAcl.attrArn,
      });
    }
  }

  private webAclFor(rateLimit: number, countRules: string[]): wafv2.CfnWebACL {
    const visibility = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      metricName: name,
      sampledRequestsEnabled: true,
    });
    const rules: wafv2.CfnWebACL.RuleProperty[] = [
      {
        name: 'RatePerAddress',
        priority: 0,
        action: { block: {} },
        statement: { rateBasedStatement: { limit: rateLimit, aggregateKeyType: 'IP' } },
        visibilityConfig: visibility('MangooRatePerAddress'),
      },
    ];
    MANAGED_RULE_GROUPS.forEach((name, i) => {
      rules.push({
        name,
        priority: i + 1,
        overrideAction: { none: {} },
        statement: {
          managedRuleGroupStatement: {
            vendorName: 'AWS',
            name,
            // document uploads are bodies of up to 20 MiB: the common
            // rule set's 8 KiB body limit (SizeRestrictions_BODY) only
            // counts, and so does any rule named in wafCountRules
            ruleActionOverrides:
              name === 'AWSManagedRulesCommonRuleSet' && countRules.length > 0
                ? countRules.map((rule) => ({ name: rule, actionToUse: { count: {} } }))
                : undefined,
          },
        },
        visibilityConfig: visibility(`Mangoo${name}`),
      });
    });
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      rules,
      visibilityConfig: visibility('MangooWebAcl'),
    });
  }
}
