// The VPC: public subnets (the load balancer; the tasks too when there is
// no NAT gateway), private subnets with egress through NAT for the tasks,
// and isolated subnets for the database, in two availability zones.
import { Construct } from 'constructs';
import * as ec2 from 'aws-cdk-lib/aws-ec2';

export interface NetworkProps {
  readonly natGateways: number;
  readonly cidr: string;
}

export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where the Fargate tasks run. */
  readonly taskSubnets: ec2.SubnetSelection;
  /** Whether the tasks need public addresses to reach AWS APIs (no NAT). */
  readonly taskPublicIp: boolean;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const subnets: ec2.SubnetConfiguration[] = [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ];
    if (props.natGateways > 0) {
      subnets.splice(1, 0, { name: 'tasks', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 });
    }
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      maxAzs: 2,
      natGateways: props.natGateways,
      subnetConfiguration: subnets,
    });
    // image layers come from S3: a gateway endpoint costs nothing and
    // keeps that traffic off the NAT gateway
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.taskPublicIp = props.natGateways === 0;
    this.taskSubnets = {
      subnetType: this.taskPublicIp ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS,
    };
  }
}
