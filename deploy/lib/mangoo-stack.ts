// Mangoo on AWS: the pieces of lib/ put together, and what an operator
// needs from them as outputs.  Environment-agnostic: synthesises with no
// account or credentials (nothing is looked up), deploys to the account
// and region the CLI is given.
import { Construct } from 'constructs';
import { CfnOutput, Stack, StackProps, Tags } from 'aws-cdk-lib';
import { Alarms } from './alarms';
import { MangooConfig, readConfig } from './config';
import { Database } from './database';
import { Edge } from './edge';
import { Identity } from './identity';
import { Network } from './network';
import { Services } from './services';

export class MangooStack extends Stack {
  readonly config: MangooConfig;
  readonly network: Network;
  readonly database: Database;
  readonly edge: Edge;
  readonly identity: Identity;
  readonly services: Services;
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const cfg = readConfig(this.node);
    this.config = cfg;
    Tags.of(this).add('project', 'mangoo');

    this.network = new Network(this, 'Network', { natGateways: cfg.natGateways, cidr: cfg.vpcCidr });
    this.database = new Database(this, 'Database', {
      vpc: this.network.vpc,
      engineVersion: cfg.dbEngineVersion,
      minAcu: cfg.dbMinAcu,
      maxAcu: cfg.dbMaxAcu,
      readers: cfg.dbReaders,
      backupDays: cfg.dbBackupDays,
      deletionProtection: cfg.dbDeletionProtection,
    });
    this.edge = new Edge(this, 'Edge', {
      vpc: this.network.vpc,
      idleTimeout: cfg.idleTimeout,
      certificateArn: cfg.certificateArn,
      deregistrationDelay: cfg.stopTimeout,
      waf: cfg.waf,
      wafRateLimit: cfg.wafRateLimit,
      wafCountRules: cfg.wafCountRules,
    });
    // Cognito only sends codes back to HTTPS origins: the domain name
    // (with a certificate for it), else the balancer's own name
    const host = cfg.domainName !== '' ? cfg.domainName : this.edge.alb.loadBalancerDnsName;
    const origin = `https://${host}`;
    this.identity = new Identity(this, 'Identity', {
      origin,
      domainPrefix: cfg.cognitoDomainPrefix,
      clientSecret: cfg.cognitoClientSecret,
      selfSignUp: cfg.selfSignUp,
    });
    this.services = new Services(this, 'Services', {
      config: cfg,
      vpc: this.network.vpc,
      taskSubnets: this.network.taskSubnets,
      taskPublicIp: this.network.taskPublicIp,
      targetGroup: this.edge.targetGroup,
      database: this.database.cluster,
      databaseSecret: this.database.secret,
      identity: this.identity,
    });
    this.alarms = new Alarms(this, 'Alarms', { config: cfg, alb: this.edge.alb, services: this.services });

    const url = this.edge.https ? origin : `http://${this.edge.alb.loadBalancerDnsName}`;
    new CfnOutput(this, 'Url', { value: url, description: 'Where the app answers' });
    new CfnOutput(this, 'LoadBalancerDns', {
      value: this.edge.alb.loadBalancerDnsName,
      description: 'Point domainName here (CNAME or alias)',
    });
    new CfnOutput(this, 'UserPoolId', { value: this.identity.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.identity.client.userPoolClientId });
    new CfnOutput(this, 'HostedUiUrl', { value: this.identity.hostedUiUrl });
    new CfnOutput(this, 'DatabaseSecretArn', { value: this.database.secret.secretArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn });
    new CfnOutput(this, 'ClusterName', { value: this.services.cluster.clusterName });
    new CfnOutput(this, 'WorkerLogGroup', { value: this.services.workerLogs.logGroupName });
    new CfnOutput(this, 'NginxLogGroup', { value: this.services.nginxLogs.logGroupName });
  }
}
