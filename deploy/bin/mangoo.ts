#!/usr/bin/env node
// The CDK app: one stack, named by context stackName (Mangoo).  Settings
// are context values (lib/config.ts, README "Deploy").
import { App } from 'aws-cdk-lib';
import { MangooStack } from '../lib/mangoo-stack';

const app = new App();
const name = String(app.node.tryGetContext('stackName') ?? 'Mangoo');
new MangooStack(app, name, {
  description: 'Mangoo: nginx + module and C workers on ECS Fargate, Aurora PostgreSQL, Cognito, WAF',
});
app.synth();
