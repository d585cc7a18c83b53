// `modelplane fetch`: flag definitions; the fetching itself lives in fetch/.
import { Command, Option } from 'commander';
import { LOG_LEVELS } from '../common/logger.js';

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description('Download a model URI into a directory and verify its sha256, unpacking an archive (the init container of every runtime pod)')
    .addOption(
      new Option('--uri <uri>', 'https://..., http://..., s3://bucket/key, s3://bucket/prefix/, pvc://claim/path or file:///abs/path; a name ending .tar.gz, .tgz, .tar or .zip is unpacked into <dest>/<name>')
        .env('MODELPLANE_MODEL_URI')
        .makeOptionMandatory(),
    )
    .addOption(new Option('--dest <dir>', 'directory to download or unpack into (pvc:// and file:// models that are not archives are used in place)').env('MODELPLANE_MODEL_DIR').makeOptionMandatory())
    .addOption(new Option('--sha256 <hex>', 'expected sha256 of the file, of model.onnx for a prefix or directory, or of the archive').env('MODELPLANE_MODEL_SHA256'))
    .addOption(new Option('--credentials-dir <dir>', 'mounted Secret: authorization, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...').env('MODELPLANE_CREDENTIALS_DIR'))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).env('MODELPLANE_LOG_LEVEL').default('info'))
    .action(async (opts: { uri: string; dest: string; sha256?: string; credentialsDir?: string; logLevel: string }) => {
      const { runFetchCommand } = await import('../fetch/command.js');
      process.exitCode = await runFetchCommand(opts);
    });
}
