import { type PutObjectCommand, type S3Client, S3ServiceException } from '@aws-sdk/client-s3';

/** For the store's specs: an S3 error as the SDK raises it for a status and code. */
export const s3Error = (status: number, name: string) =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

/** For the store's specs: an S3 client whose PutObject answers from a script, recording what it was sent. */
export function scriptedClient(answers: (Error | undefined)[]) {
  const sent: PutObjectCommand[] = [];
  const client = {
    async send(command: PutObjectCommand) {
      sent.push(command);
      const answer = answers.shift();
      if (answer) throw answer;
      return {};
    },
  } as unknown as S3Client;
  return { client, sent };
}
