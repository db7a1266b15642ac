// Amazon Cognito: the user pool people sign in to through its hosted UI
// (authorization code + PKCE S256; the web app holds no secret, and with
// cognitoClientSecret the app client is confidential, its secret kept in
// Secrets Manager for the workers, who trade the codes), the group
// "admin" that reaches /api/v1/admin, and what nginx verifies access
// tokens with (README "Identity").
import { Construct } from 'constructs';
import { Aws, Duration, Fn } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

export const ADMIN_GROUP = 'admin';
export const OAUTH_SCOPES = ['openid', 'email', 'profile'];
/** The web app's route that receives the code (web/src/lib/pkce.ts). */
export const CALLBACK_PATH = '/auth/callback';

export interface IdentityProps {
  /** The public origin the app is served from, https://host */
  readonly origin: string;
  readonly domainPrefix: string;
  readonly clientSecret: boolean;
  readonly selfSignUp: boolean;
}

export class Identity extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  /** The confidential client's secret, when there is one. */
  readonly clientSecret?: secretsmanager.ISecret;
  /** Access tokens' iss, and where their keys are published. */
  readonly issuer: string;
  readonly jwksUrl: string;
  /** The hosted UI's base URL (MANGOO_COGNITO_DOMAIN). */
  readonly hostedUiUrl: string;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: props.selfSignUp,
      signInAliases: { email: true, username: true },
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: false,
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
    });
    this.userPool.addGroup('Admin', {
      groupName: ADMIN_GROUP,
      description: 'Mangoo administrators: /api/v1/admin',
    });

    this.client = this.userPool.addClient('WebClient', {
      generateSecret: props.clientSecret,
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: [`${props.origin}${CALLBACK_PATH}`],
        logoutUrls: [`${props.origin}/`],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.minutes(15),
      idTokenValidity: Duration.minutes(15),
      refreshTokenValidity: Duration.days(30),
    });

    // a prefix unique to this stack unless one is given: "mangoo-" and the
    // first group of the stack id's UUID
    const prefix =
      props.domainPrefix !== ''
        ? props.domainPrefix
        : `mangoo-${Fn.select(0, Fn.split('-', Fn.select(2, Fn.split('/', Aws.STACK_ID))))}`;
    this.domain = this.userPool.addDomain('HostedUi', { cognitoDomain: { domainPrefix: prefix } });
    this.hostedUiUrl = this.domain.baseUrl();

    // the provider name is cognito-idp.<region>.amazonaws.com/<pool id>
    this.issuer = `https://${this.userPool.userPoolProviderName}`;
    this.jwksUrl = `${this.issuer}/.well-known/jwks.json`;

    if (props.clientSecret) {
      this.clientSecret = new secretsmanager.Secret(this, 'ClientSecret', {
        description: 'Mangoo: the Cognito app client secret the workers send to the token endpoint',
        secretStringValue: this.client.userPoolClientSecret,
      });
    }
  }
}
