// The database (Aurora Serverless v2, isolated, reached by the workers
// only) and the identity (Cognito, wired into nginx and the workers).
import { beforeAll, describe, expect, it } from 'vitest';
import { Synth, container, env, ingressInto, only, render, resources, serviceGroups, synth } from './helpers';

describe('database', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth();
  });

  it('is Aurora PostgreSQL 15 Serverless v2, encrypted, with backups', () => {
    const [, c] = only(s, 'AWS::RDS::DBCluster');
    expect(c.Properties.Engine).toBe('aurora-postgresql');
    expect(c.Properties.EngineVersion).toMatch(/^15\.\d+$/);
    expect(c.Properties.ServerlessV2ScalingConfiguration).toEqual({ MinCapacity: 0.5, MaxCapacity: 4 });
    expect(c.Properties.StorageEncrypted).toBe(true);
    expect(c.Properties.BackupRetentionPeriod).toBe(7);
    expect(c.Properties.DatabaseName).toBe('mangoo');
    expect(c.DeletionPolicy).toBe('Snapshot');
    const [, i] = only(s, 'AWS::RDS::DBInstance');
    expect(i.Properties.DBInstanceClass).toBe('db.serverless');
    const t = synth({ dbMinAcu: 1, dbMaxAcu: 16, dbReaders: 1, dbEngineVersion: '15.13' });
    expect(only(t, 'AWS::RDS::DBCluster')[1].Properties.ServerlessV2ScalingConfiguration).toEqual({
      MinCapacity: 1,
      MaxCapacity: 16,
    });
    expect(only(t, 'AWS::RDS::DBCluster')[1].Properties.EngineVersion).toBe('15.13');
    expect(resources(t, 'AWS::RDS::DBInstance')).toHaveLength(2);
    expect(() => synth({ dbEngineVersion: '16.4' })).toThrow(/dbEngineVersion/);
    expect(() => synth({ dbMinAcu: 0.7 })).toThrow(/0\.5/);
  });

  it('is not publicly accessible and lives in the isolated subnets', () => {
    for (const t of [s, synth({ dbReaders: 2 })]) {
      const instances = resources(t, 'AWS::RDS::DBInstance');
      expect(instances.length).toBeGreaterThan(0);
      for (const [, i] of instances) expect(i.Properties.PubliclyAccessible).toBe(false);
    }
    const [groupId, group] = only(s, 'AWS::RDS::DBSubnetGroup');
    expect(only(s, 'AWS::RDS::DBCluster')[1].Properties.DBSubnetGroupName).toEqual({ Ref: groupId });
    const subnets = group.Properties.SubnetIds as { Ref: string }[];
    expect(subnets).toHaveLength(2);
    for (const sub of subnets) {
      const p = s.json.Resources[sub.Ref].Properties;
      expect(p.Tags).toContainEqual({ Key: 'aws-cdk:subnet-type', Value: 'Isolated' });
      expect(p.MapPublicIpOnLaunch).toBe(false);
      // no route to the internet from there
      const routes = resources(s, 'AWS::EC2::SubnetRouteTableAssociation')
        .filter(([, a]) => a.Properties.SubnetId.Ref === sub.Ref)
        .map(([, a]) => a.Properties.RouteTableId.Ref);
      for (const [, r] of resources(s, 'AWS::EC2::Route')) {
        expect(routes).not.toContain(r.Properties.RouteTableId.Ref);
      }
    }
  });

  it('accepts PostgreSQL connections from the workers only', () => {
    const groups = only(s, 'AWS::RDS::DBCluster')[1].Properties.VpcSecurityGroupIds as any[];
    expect(groups).toHaveLength(1);
    const dbSg = groups[0]['Fn::GetAtt'][0];
    const rules = ingressInto(s, dbSg);
    expect(rules).toHaveLength(1);
    const [workerSg] = serviceGroups(s, 'worker');
    expect(rules[0].SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [workerSg, 'GroupId'] });
    expect(rules[0].FromPort).toEqual(rules[0].ToPort);
    expect(render(rules[0].FromPort)).toBe(`\${${only(s, 'AWS::RDS::DBCluster')[0]}.Endpoint.Port}`);
    // and it starts nothing itself
    const egress = s.json.Resources[dbSg].Properties.SecurityGroupEgress as any[];
    expect(egress).toEqual([expect.objectContaining({ CidrIp: '255.255.255.255/32' })]);
  });

  it('keeps its master credentials in Secrets Manager', () => {
    const [secretId, secret] = only(s, 'AWS::SecretsManager::Secret');
    expect(secret.Properties.GenerateSecretString.GenerateStringKey).toBe('password');
    const [, c] = only(s, 'AWS::RDS::DBCluster');
    expect(JSON.stringify(c.Properties.MasterUserPassword)).toContain(secretId);
    expect(JSON.stringify(c.Properties.MasterUserPassword)).toContain('resolve:secretsmanager');
  });
});

describe('identity', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ domainName: 'chat.example.com' });
  });

  it('has an app client for the authorization code flow with PKCE (no secret in the browser)', () => {
    const [, client] = only(s, 'AWS::Cognito::UserPoolClient');
    const p = client.Properties;
    expect(p.AllowedOAuthFlows).toEqual(['code']);
    expect(p.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect(p.GenerateSecret).toBe(false);
    expect(p.AllowedOAuthScopes.sort()).toEqual(['email', 'openid', 'profile']);
    expect(p.SupportedIdentityProviders).toEqual(['COGNITO']);
    expect(p.CallbackURLs).toEqual(['https://chat.example.com/auth/callback']);
    expect(p.LogoutURLs).toEqual(['https://chat.example.com/']);
    expect(p.EnableTokenRevocation).toBe(true);
    expect(p.PreventUserExistenceErrors).toBe('ENABLED');
  });

  it('sends codes back to the load balancer over HTTPS without a domain name', () => {
    const t = synth();
    const [albId] = only(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const urls = only(t, 'AWS::Cognito::UserPoolClient')[1].Properties.CallbackURLs as unknown[];
    expect(urls.map(render)).toEqual([`https://\${${albId}.DNSName}/auth/callback`]);
  });

  it('has an admin group and a hosted UI domain', () => {
    const [poolId] = only(s, 'AWS::Cognito::UserPool');
    s.template.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: 'admin', UserPoolId: { Ref: poolId } });
    const [, domain] = only(s, 'AWS::Cognito::UserPoolDomain');
    expect(domain.Properties.UserPoolId).toEqual({ Ref: poolId });
    expect(render(domain.Properties.Domain)).toMatch(/^mangoo-\$\{Select\(0,/);
    const t = synth({ cognitoDomainPrefix: 'acme-chat' });
    expect(only(t, 'AWS::Cognito::UserPoolDomain')[1].Properties.Domain).toBe('acme-chat');
    expect(() => synth({ cognitoDomainPrefix: 'my-cognito' })).toThrow(/cognitoDomainPrefix/);
  });

  it('points nginx at the pool\'s JWKS URL, issuer and app client', () => {
    const [poolId] = only(s, 'AWS::Cognito::UserPool');
    const [clientId] = only(s, 'AWS::Cognito::UserPoolClient');
    const e = env(container(s, 'nginx'));
    expect(e.MANGOO_ISSUER).toBe(`https://\${${poolId}.ProviderName}`);
    expect(e.MANGOO_JWKS).toBe(`https://\${${poolId}.ProviderName}/.well-known/jwks.json`);
    expect(e.MANGOO_CLIENT_ID).toBe(`\${${clientId}}`);
    const w = env(container(s, 'worker'));
    expect(w.MANGOO_ISSUER).toBe(e.MANGOO_ISSUER);
    expect(w.MANGOO_CLIENT_ID).toBe(e.MANGOO_CLIENT_ID);
    const [domainId] = only(s, 'AWS::Cognito::UserPoolDomain');
    expect(w.MANGOO_COGNITO_DOMAIN).toBe(`https://\${${domainId}}.auth.\${AWS::Region}.amazoncognito.com`);
  });

  it('leaves sign-up to administrators unless selfSignUp', () => {
    const pool = only(s, 'AWS::Cognito::UserPool')[1].Properties;
    expect(pool.AdminCreateUserConfig.AllowAdminCreateUserOnly).toBe(true);
    expect(pool.Policies.PasswordPolicy.MinimumLength).toBeGreaterThanOrEqual(12);
    const t = synth({ selfSignUp: true });
    expect(only(t, 'AWS::Cognito::UserPool')[1].Properties.AdminCreateUserConfig.AllowAdminCreateUserOnly).toBe(false);
  });
});
