// One scratch folder for the cloud assemblies every test writes, made
// before the test files run and removed after.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export default function setup(): () => void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mangoo-cdk-test-'));
  process.env.MANGOO_CDK_TEST_OUT = root;
  return () => fs.rmSync(root, { recursive: true, force: true });
}
