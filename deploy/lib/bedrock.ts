// What the workers may call on Bedrock: InvokeModel (Converse, Titan
// embeddings) and InvokeModelWithResponseStream (ConverseStream) on the
// configured models only.  A model id is a foundation model
// ("anthropic.claude-...") or a cross-region inference profile
// ("us.anthropic.claude-...", "eu.", "apac.", "global."): a profile is
// granted in this account and region, and the foundation model behind it
// in any region, but only when the call goes through that profile.
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

export const BEDROCK_ACTIONS = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

const PROFILE_PREFIX = /^(us|eu|apac|us-gov|ca|jp|au|global)\.(.+)$/;

export interface ModelArns {
  /** foundation models called directly, in this region */
  readonly foundationModels: string[];
  /** inference profiles, in this account and region */
  readonly profiles: string[];
  /** the foundation models behind those profiles, any region */
  readonly profileModels: string[];
}

export function modelArns(ids: string[]): ModelArns {
  const foundationModels: string[] = [];
  const profiles: string[] = [];
  const profileModels: string[] = [];
  for (const id of ids) {
    const m = PROFILE_PREFIX.exec(id);
    if (m === null) {
      foundationModels.push(`arn:${Aws.PARTITION}:bedrock:${Aws.REGION}::foundation-model/${id}`);
    } else {
      profiles.push(`arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/${id}`);
      profileModels.push(`arn:${Aws.PARTITION}:bedrock:*::foundation-model/${m[2]}`);
    }
  }
  return { foundationModels, profiles, profileModels };
}

/** The statements of the workers' Bedrock policy. */
export function bedrockStatements(ids: string[]): iam.PolicyStatement[] {
  const arns = modelArns(ids);
  const out: iam.PolicyStatement[] = [];
  const direct = [...arns.foundationModels, ...arns.profiles];
  if (direct.length > 0) {
    out.push(new iam.PolicyStatement({ sid: 'InvokeConfiguredModels', actions: BEDROCK_ACTIONS, resources: direct }));
  }
  if (arns.profileModels.length > 0) {
    out.push(
      new iam.PolicyStatement({
        sid: 'InvokeModelsThroughProfiles',
        actions: BEDROCK_ACTIONS,
        resources: arns.profileModels,
        conditions: { StringEquals: { 'bedrock:InferenceProfileArn': arns.profiles } },
      }),
    );
  }
  return out;
}
