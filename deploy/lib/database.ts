// Aurora PostgreSQL Serverless v2 (pgvector is an extension there; the
// workers' first migration creates it) in the isolated subnets: no public
// address, reached only from the security groups given access later
// (the workers'), its master credentials generated into Secrets Manager.
import { Construct } from 'constructs';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

export const DB_NAME = 'mangoo';
export const DB_USER = 'mangoo';

export interface DatabaseProps {
  readonly vpc: ec2.IVpc;
  readonly engineVersion: string;
  readonly minAcu: number;
  readonly maxAcu: number;
  readonly readers: number;
  readonly backupDays: number;
  readonly deletionProtection: boolean;
}

export class Database extends Construct {
  readonly cluster: rds.DatabaseCluster;
  readonly secret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const major = props.engineVersion.split('.')[0];
    const readers: rds.IClusterInstance[] = [];
    for (let i = 0; i < props.readers; i++) {
      readers.push(rds.ClusterInstance.serverlessV2(`reader${i + 1}`, { scaleWithWriter: true, publiclyAccessible: false }));
    }
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Mangoo database: PostgreSQL from the workers only',
      allowAllOutbound: false,
    });
    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.of(props.engineVersion, major),
      }),
      credentials: rds.Credentials.fromGeneratedSecret(DB_USER),
      defaultDatabaseName: DB_NAME,
      writer: rds.ClusterInstance.serverlessV2('writer', { publiclyAccessible: false }),
      readers,
      serverlessV2MinCapacity: props.minAcu,
      serverlessV2MaxCapacity: props.maxAcu,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [securityGroup],
      storageEncrypted: true,
      backup: { retention: Duration.days(props.backupDays) },
      deletionProtection: props.deletionProtection,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    this.secret = this.cluster.secret!;
  }
}
