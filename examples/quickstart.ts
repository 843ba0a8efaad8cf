/**
 * The whole Batch API flow with the official OpenAI SDK, unchanged except for `baseURL`:
 * upload a .jsonl file, create a batch, poll it, download the results.
 *
 *   OPENAI_BASE_URL=http://localhost:4080/v1 OPENAI_API_KEY=<a key from API_KEYS> node dist/examples/quickstart.js
 */
import OpenAI, { toFile } from 'openai';

export async function runQuickstart(
  baseURL: string,
  apiKey: string,
  model = 'sim-model',
  lines = 20,
): Promise<void> {
  const client = new OpenAI({ baseURL, apiKey });

  const jsonl = Array.from({ length: lines }, (_, i) =>
    JSON.stringify({
      custom_id: `question-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `What is ${i} + ${i}?` }], max_tokens: 32 },
    }),
  ).join('\n');

  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl), 'questions.jsonl'),
    purpose: 'batch',
  });
  console.log(`uploaded ${file.id} (${file.bytes} bytes)`);

  let batch = await client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  console.log(`created ${batch.id}: ${batch.status}`);

  const started = Date.now();
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    await new Promise((r) => setTimeout(r, 1000));
    batch = await client.batches.retrieve(batch.id);
    const c = batch.request_counts;
    console.log(`  ${batch.status}: ${c?.completed ?? 0}/${c?.total ?? 0} done, ${c?.failed ?? 0} failed`);
  }
  console.log(
    `batch ${batch.status} in ${((Date.now() - started) / 1000).toFixed(1)} s; usage ${JSON.stringify(batch.usage)}`,
  );

  if (batch.output_file_id) {
    const text = await (await client.files.content(batch.output_file_id)).text();
    const first = JSON.parse(text.split('\n')[0]);
    console.log(
      `first result: ${first.custom_id} → ${JSON.stringify(first.response.body.choices[0].message.content)}`,
    );
  }
  if (batch.errors) console.log(`validation errors: ${JSON.stringify(batch.errors.data)}`);
}

if (require.main === module) {
  const baseURL = process.env.OPENAI_BASE_URL ?? 'http://localhost:4080/v1';
  runQuickstart(baseURL, process.env.OPENAI_API_KEY ?? 'open-mode', process.env.MODEL ?? 'sim-model').catch(
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
