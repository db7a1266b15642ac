#!/usr/bin/env node
// The CDK app: one stack, named by context stackName (Mangoo).  Settings
// are context values (lib/config.ts, README "Deploy"); a bad one stops
// the synth with its reason.
import { App } from 'aws-cdk-lib';
import { ConfigError } from '../lib/config';
import { MangooStack } from '../lib/mangoo-stack';

const app = new App();
const name = String(app.node.tryGetContext('stackName') ?? 'Mangoo');
try {
  new MangooStack(app, name, {
    description: 'Mangoo: nginx + module and C workers on ECS Fargate, Aurora PostgreSQL, Cognito, WAF',
  });
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`mangoo: ${e.message}`);
  process.exit(1);
}
app.synth();
