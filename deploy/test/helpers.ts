// Shared by the stack's tests: synthesise with context, find things in
// the template, render CloudFormation intrinsics as readable strings.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MangooStack } from '../lib/mangoo-stack';

export const STACK = 'Test';

export interface Synth {
  readonly stack: MangooStack;
  readonly template: Template;
  readonly json: { Resources: Record<string, Resource> };
}

export interface Resource {
  Type: string;
  Properties?: any;
  DependsOn?: string[];
  DeletionPolicy?: string;
}

// every synthesis writes a cloud assembly: into the run's scratch folder
// (test/global-setup.ts)
export function outdir(): string {
  const root = process.env.MANGOO_CDK_TEST_OUT ?? os.tmpdir();
  return fs.mkdtempSync(path.join(root, 'app-'));
}

export function synth(context: Record<string, unknown> = {}): Synth {
  const app = new App({ context, outdir: outdir() });
  const stack = new MangooStack(app, STACK);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Synth['json'] };
}

/** Logical ids and resources of a type. */
export function resources(s: Synth, type: string): [string, Resource][] {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

export function only(s: Synth, type: string): [string, Resource] {
  const all = resources(s, type);
  if (all.length !== 1) throw new Error(`${all.length} resources of type ${type}`);
  return all[0];
}

/** An intrinsic as text: {Ref: X} -> ${X}, GetAtt -> ${X.Y}, Join joined. */
export function render(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, any>;
    if ('Ref' in o) return `\${${o.Ref}}`;
    if ('Fn::GetAtt' in o) return `\${${o['Fn::GetAtt'].join('.')}}`;
    if ('Fn::Join' in o) return (o['Fn::Join'][1] as unknown[]).map(render).join(o['Fn::Join'][0]);
    if ('Fn::Select' in o) return `\${Select(${o['Fn::Select'][0]},${render(o['Fn::Select'][1])})}`;
    if ('Fn::Split' in o) return `\${Split(${o['Fn::Split'][0]},${render(o['Fn::Split'][1])})}`;
    if ('Fn::Sub' in o) return `\${Sub(${render(o['Fn::Sub'])})}`;
  }
  return JSON.stringify(v);
}

export interface Container {
  Name: string;
  Environment?: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
  [k: string]: any;
}

/** The task definition (logical id, resource) whose container is named name. */
export function taskOf(s: Synth, name: string): [string, Resource] {
  const found = resources(s, 'AWS::ECS::TaskDefinition').filter(([, r]) =>
    (r.Properties.ContainerDefinitions as Container[]).some((c) => c.Name === name),
  );
  if (found.length !== 1) throw new Error(`${found.length} task definitions with container ${name}`);
  return found[0];
}

export function container(s: Synth, name: string): Container {
  const [, task] = taskOf(s, name);
  return (task.Properties.ContainerDefinitions as Container[]).find((c) => c.Name === name)!;
}

export function allContainers(s: Synth): Container[] {
  return resources(s, 'AWS::ECS::TaskDefinition').flatMap(([, r]) => r.Properties.ContainerDefinitions as Container[]);
}

/** A container's environment as name -> rendered value. */
export function env(c: Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.Environment ?? []) out[e.Name] = render(e.Value);
  return out;
}

/** The ECS service (logical id, resource) running the container named name. */
export function serviceOf(s: Synth, name: string): [string, Resource] {
  const [taskId] = taskOf(s, name);
  const found = resources(s, 'AWS::ECS::Service').filter(([, r]) => r.Properties.TaskDefinition?.Ref === taskId);
  if (found.length !== 1) throw new Error(`${found.length} services for ${name}`);
  return found[0];
}

/** The security groups of the service running container name. */
export function serviceGroups(s: Synth, name: string): string[] {
  const [, svc] = serviceOf(s, name);
  return (svc.Properties.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups as any[]).map(
    (g) => g['Fn::GetAtt'][0] as string,
  );
}

/** Ingress rules into a security group, from separate resources and inline. */
export function ingressInto(s: Synth, group: string): any[] {
  const separate = resources(s, 'AWS::EC2::SecurityGroupIngress')
    .map(([, r]) => r.Properties)
    .filter((p) => p.GroupId?.['Fn::GetAtt']?.[0] === group);
  const inline = s.json.Resources[group].Properties.SecurityGroupIngress ?? [];
  return [...separate, ...inline];
}

/** Every statement of the policies attached to a role. */
export function roleStatements(s: Synth, roleId: string): any[] {
  return resources(s, 'AWS::IAM::Policy')
    .filter(([, r]) => (r.Properties.Roles as any[]).some((x) => x.Ref === roleId))
    .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as any[]);
}

export function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
