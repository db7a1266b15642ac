// The load balancer, its target group and listeners, and the WAF.
import { beforeAll, describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { MANAGED_RULE_GROUPS } from '../lib/edge';
import { Synth, only, render, resources, synth } from './helpers';

const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-1111-2222-3333-444455556666';

function attributes(s: Synth, type: string): Record<string, string> {
  const [, r] = only(s, type);
  const key = type.endsWith('LoadBalancer') ? 'LoadBalancerAttributes' : 'TargetGroupAttributes';
  return Object.fromEntries((r.Properties[key] as { Key: string; Value: string }[]).map((a) => [a.Key, a.Value]));
}

describe('load balancer', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  it('keeps idle connections at least 120 s, for long answer streams', () => {
    const idle = Number(attributes(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer')['idle_timeout.timeout_seconds']);
    expect(idle).toBeGreaterThanOrEqual(120);
    expect(idle).toBe(300);
    expect(only(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[1].Properties.Scheme).toBe('internet-facing');
  });

  it('takes idleTimeout from the context and refuses less than 120 s', () => {
    const t = synth({ idleTimeout: 600 });
    expect(attributes(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer')['idle_timeout.timeout_seconds']).toBe('600');
    expect(() => synth({ idleTimeout: 119 })).toThrow(/idleTimeout/);
  });

  it('checks the nginx tasks on /health, by IP, on 8080', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/health',
      Matcher: { HttpCode: '200' },
      Port: 8080,
      Protocol: 'HTTP',
      TargetType: 'ip',
    });
  });

  it('lets a stopping task finish its requests as long as its stop timeout', () => {
    expect(attributes(s, 'AWS::ElasticLoadBalancingV2::TargetGroup')['deregistration_delay.timeout_seconds']).toBe('30');
    const t = synth({ stopTimeout: 90 });
    expect(attributes(t, 'AWS::ElasticLoadBalancingV2::TargetGroup')['deregistration_delay.timeout_seconds']).toBe('90');
  });

  it('listens on HTTP only without a certificate', () => {
    const listeners = resources(s, 'AWS::ElasticLoadBalancingV2::Listener');
    expect(listeners).toHaveLength(1);
    const [, l] = listeners[0];
    expect(l.Properties.Port).toBe(80);
    expect(l.Properties.Protocol).toBe('HTTP');
    expect(l.Properties.DefaultActions).toEqual([
      { Type: 'forward', TargetGroupArn: { Ref: only(s, 'AWS::ElasticLoadBalancingV2::TargetGroup')[0] } },
    ]);
  });

  it('serves HTTPS with the certificate given, and redirects HTTP there', () => {
    const t = synth({ certificateArn: CERT, domainName: 'chat.example.com' });
    const listeners = resources(t, 'AWS::ElasticLoadBalancingV2::Listener').map(([, r]) => r.Properties);
    expect(listeners).toHaveLength(2);
    const https = listeners.find((l) => l.Port === 443)!;
    expect(https.Protocol).toBe('HTTPS');
    expect(https.Certificates).toEqual([{ CertificateArn: CERT }]);
    expect(https.DefaultActions[0].Type).toBe('forward');
    const http = listeners.find((l) => l.Port === 80)!;
    expect(http.DefaultActions[0].Type).toBe('redirect');
    expect(http.DefaultActions[0].RedirectConfig).toMatchObject({ Protocol: 'HTTPS', Port: '443' });
    expect(() => synth({ certificateArn: 'not-an-arn' })).toThrow(/certificateArn/);
  });

  it('answers /metrics itself with a 404, never forwarding it', () => {
    s.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/metrics', '/metrics/*'] } }],
      Actions: [Match.objectLike({ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) })],
    });
  });
});

describe('WAF', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  it('blocks an address over the rate limit', () => {
    const [, acl] = only(s, 'AWS::WAFv2::WebACL');
    expect(acl.Properties.Scope).toBe('REGIONAL');
    expect(acl.Properties.DefaultAction).toEqual({ Allow: {} });
    const rate = (acl.Properties.Rules as any[]).filter((r) => r.Statement.RateBasedStatement !== undefined);
    expect(rate).toHaveLength(1);
    expect(rate[0].Statement.RateBasedStatement).toEqual({ Limit: 2000, AggregateKeyType: 'IP' });
    expect(rate[0].Action).toEqual({ Block: {} });
    const t = synth({ wafRateLimit: 500 });
    const rules = only(t, 'AWS::WAFv2::WebACL')[1].Properties.Rules as any[];
    expect(rules.find((r) => r.Statement.RateBasedStatement).Statement.RateBasedStatement.Limit).toBe(500);
  });

  it('has the common, known-bad-inputs and IP reputation managed groups, uploads not blocked by size', () => {
    const rules = only(s, 'AWS::WAFv2::WebACL')[1].Properties.Rules as any[];
    const groups = rules.filter((r) => r.Statement.ManagedRuleGroupStatement !== undefined);
    expect(groups.map((r) => r.Statement.ManagedRuleGroupStatement.Name).sort()).toEqual(
      [
        'AWSManagedRulesAmazonIpReputationList',
        'AWSManagedRulesCommonRuleSet',
        'AWSManagedRulesKnownBadInputsRuleSet',
      ].sort(),
    );
    expect(MANAGED_RULE_GROUPS).toHaveLength(3);
    for (const g of groups) {
      expect(g.Statement.ManagedRuleGroupStatement.VendorName).toBe('AWS');
      expect(g.OverrideAction).toEqual({ None: {} });
    }
    const common = groups.find((r) => r.Name === 'AWSManagedRulesCommonRuleSet');
    expect(common.Statement.ManagedRuleGroupStatement.RuleActionOverrides).toEqual([
      { Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } },
    ]);
    const t = synth({ wafCountRules: 'SizeRestrictions_BODY,CrossSiteScripting_BODY' });
    const tc = (only(t, 'AWS::WAFv2::WebACL')[1].Properties.Rules as any[]).find(
      (r) => r.Name === 'AWSManagedRulesCommonRuleSet',
    );
    expect(tc.Statement.ManagedRuleGroupStatement.RuleActionOverrides).toEqual([
      { Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } },
      { Name: 'CrossSiteScripting_BODY', ActionToUse: { Count: {} } },
    ]);
    // every rule has its own priority
    const priorities = rules.map((r) => r.Priority);
    expect(new Set(priorities).size).toBe(priorities.length);
  });

  it('is associated with the load balancer', () => {
    const [albId] = only(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const [aclId] = only(s, 'AWS::WAFv2::WebACL');
    const [, assoc] = only(s, 'AWS::WAFv2::WebACLAssociation');
    expect(assoc.Properties.ResourceArn).toEqual({ Ref: albId });
    expect(render(assoc.Properties.WebACLArn)).toBe(`\${${aclId}.Arn}`);
  });

  it('can be left out', () => {
    const t = synth({ waf: false });
    expect(resources(t, 'AWS::WAFv2::WebACL')).toHaveLength(0);
    expect(resources(t, 'AWS::WAFv2::WebACLAssociation')).toHaveLength(0);
  });
});
