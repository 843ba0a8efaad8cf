/**
 * The text the simulator answers with. Real model output is multi-byte more often than not
 * (accents, CJK, RTL scripts, emoji with modifiers and joiners), and a service that counts string
 * length instead of bytes only breaks on such text: so by default every answer carries some, and
 * every test and benchmark that runs a batch exercises it. `asciiOnly` gives the plain echo for a
 * test that needs it.
 *
 * Answers stay deterministic (a function of the prompt only) so a test can compute the exact line
 * it expects with `simulatedAnswer(prompt)`.
 */
import { fnv1a } from './vllm-request';

/** Phrases in several scripts; each stresses a different corner of UTF-8 and JSON. */
export const MULTIBYTE_PHRASES: readonly string[] = [
  'Voilà la réponse : déjà‑vu, naïveté, cœur et façade.',
  '这是模型生成的回答，包含简体中文字符。',
  '日本語の応答です：こんにちは、世界！カタカナも。',
  'Ответ на русском языке: всё в порядке, ёлка.',
  'مرحبا بالعالم — هذا نص يُكتب من اليمين إلى اليسار.',
  'नमस्ते दुनिया, यह उत्तर देवनागरी में है।',
  'Emoji 🙂👍🏽 👩‍💻🚀 🇫🇷 ✨ (modifiers, joiners, flags).',
  'Ελληνικά: γειά σου κόσμε, αβγδε.',
  '한국어 답변입니다. 안녕하세요!',
  'Combining marks: Ame\u0301lie, n\u0303, a\u0308\u0301.',
  'Astral plane: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟙𝟚𝟛 and 𠜎𠜱.',
  'Separators\u2028inside a line\u2029and "quotes", \\ backslashes,\ttabs.',
  'עברית: שלום עולם, תשובה מימין לשמאל.',
  'ไทย: สวัสดีครับ นี่คือคำตอบ',
];

/**
 * The answer to `prompt`: `echo: <prompt>`, then (unless `asciiOnly`) a newline and one to eight
 * phrases picked from MULTIBYTE_PHRASES by a hash of the prompt, so lengths and scripts vary from
 * line to line.
 */
export function simulatedAnswer(prompt: string, asciiOnly = false): string {
  const echo = 'echo: ' + prompt;
  if (asciiOnly) return echo;
  const h = fnv1a(prompt);
  const count = 1 + (h % 8);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(MULTIBYTE_PHRASES[(h + i * 7919 + (h >>> (i % 16))) % MULTIBYTE_PHRASES.length]);
  }
  return `${echo}\n${parts.join(' ')}`;
}
