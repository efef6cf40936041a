#!/usr/bin/env python3
"""The PyTorch side of bench/vs-torch (run.ts starts it; not meant to be run by hand).

A long-lived worker: one JSON request a line on stdin, one JSON answer a line on stdout
(anything else it prints goes to stderr). The model code is upstream openai/CLIP's
`clip/model.py`, loaded from `--clip-src DIR` (DIR/clip/model.py or DIR/model.py) or from an
installed `clip` package; this repo holds no copy of it. Weights come from the safetensors files
run.ts wrote (OpenAI state-dict names), read by the few lines of `read_safetensors` below (the
`safetensors` package is not needed).

Requests:
  {"op": "hello"}                                       -> versions, threads, model.py path
  {"op": "setup", "workload": W, "dir": D, "spec": {}}  -> builds workload W on the model in D
  {"op": "run", "calls": n}                             -> {"seconds": s} for n calls of it
  {"op": "probe", "dir": D, "spec": {}}                 -> image and text features to compare
  {"op": "drop", "dir": D}                              -> frees the model of D
  {"op": "quit"}
Answers carry "ok": true, or "ok": false and "error".

What each workload computes is what run.ts's Antidote side computes; the comments at each
workload say how it maps (run.ts has the same comments from the other side).
"""

import argparse
import importlib.util
import json
import math
import os
import struct
import sys
import time

PROTO = sys.stdout
sys.stdout = sys.stderr  # nothing but answers on the protocol stream


def fail_check(msg):
    print(json.dumps({"ok": False, "error": msg}), file=PROTO, flush=True)
    sys.exit(2)


try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # run.ts probes for torch first; this is the fallback message
    fail_check(f"PyTorch is not importable by {sys.executable}: {e}")

# ---- safetensors, the few lines needed ---------------------------------------------------------

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (8-byte LE header length, JSON header, raw data)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dtype = DTYPES[h["dtype"]]
        if b > a:
            t = torch.frombuffer(bytearray(data[base + a : base + b]), dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        out[name] = t.reshape(h["shape"])
    return out


# ---- upstream CLIP -------------------------------------------------------------------------------


def load_upstream(clip_src):
    """openai/CLIP's model.py as a module (by path: the package's __init__ needs more deps)."""
    if clip_src:
        cands = [os.path.join(clip_src, "clip", "model.py"), os.path.join(clip_src, "model.py")]
        path = next((p for p in cands if os.path.isfile(p)), None)
        if path is None:
            raise RuntimeError(f"--clip-src {clip_src}: no clip/model.py or model.py there")
    else:
        spec = importlib.util.find_spec("clip")
        locs = list(spec.submodule_search_locations or []) if spec else []
        found = [os.path.join(d, "model.py") for d in locs]
        path = next((p for p in found if os.path.isfile(p)), None)
        if path is None:
            raise RuntimeError(
                "no upstream CLIP model code: pass --clip-src DIR (a checkout of "
                "github.com/openai/CLIP) or install its `clip` package"
            )
    spec = importlib.util.spec_from_file_location("upstream_clip_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("CLIP", "VisionTransformer", "ModifiedResNet"):
        if not hasattr(mod, name):
            raise RuntimeError(f"{path}: has no {name}; is it openai/CLIP's clip/model.py?")
    return mod, path


def build_clip(up, cfg, state):
    """Upstream CLIP of Antidote's ClipConfig `cfg`, with the state dict's weights, f32, eval."""
    if cfg["activation"] != "quick_gelu":
        raise RuntimeError(f"activation {cfg['activation']}: upstream model.py has QuickGELU only")
    if abs(cfg["layerNormEps"] - 1e-5) > 1e-12:
        raise RuntimeError(f"layer-norm eps {cfg['layerNormEps']}: upstream's is 1e-5")
    resnet = cfg["visionKind"] == "resnet"
    layers = tuple(cfg["visionResLayers"]) if resnet else cfg["visionLayers"]
    model = up.CLIP(
        cfg["embedDim"],
        cfg["imageResolution"],
        layers,
        cfg["visionWidth"],
        cfg["visionPatchSize"],
        cfg["contextLength"],
        cfg["vocabSize"],
        cfg["transformerWidth"],
        cfg["transformerHeads"],
        cfg["transformerLayers"],
    )
    # Upstream derives the image tower's heads from its width (what the released models use); a
    # model with other heads (the lab's tiny fixtures) gets the tower rebuilt with its own.
    default_heads = cfg["visionWidth"] * 32 // 64 if resnet else cfg["visionWidth"] // 64
    if cfg["visionHeads"] != default_heads:
        if resnet:
            model.visual = up.ModifiedResNet(
                layers=layers,
                output_dim=cfg["embedDim"],
                heads=cfg["visionHeads"],
                input_resolution=cfg["imageResolution"],
                width=cfg["visionWidth"],
            )
        else:
            model.visual = up.VisionTransformer(
                input_resolution=cfg["imageResolution"],
                patch_size=cfg["visionPatchSize"],
                width=cfg["visionWidth"],
                layers=cfg["visionLayers"],
                heads=cfg["visionHeads"],
                output_dim=cfg["embedDim"],
            )
    own = model.state_dict()
    sd = {}
    for k, v in state.items():
        if k in ("input_resolution", "context_length", "vocab_size"):
            continue
        if k in own:
            if own[k].shape != v.shape and own[k].numel() == v.numel():
                v = v.reshape(own[k].shape)  # e.g. logit_scale [] vs [1]
            v = v.to(own[k].dtype)
        sd[k] = v
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(
            f"state dict does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model = model.float().eval().requires_grad_(False)
    model._causal = model.build_attention_mask()  # [ctx, ctx]; sliced for shorter prompts
    return model


def text_from_embeddings(model, emb, ids):
    """CoOp's text encoder on upstream's modules: encode_text from input embeddings [N, T, W].

    Prompts may be shorter than the context (Antidote cuts them after the last EOT: the tower is
    causal, so the features are the same); upstream's blocks hold a [ctx, ctx] causal mask, so
    they get its [T, T] corner.
    """
    T = emb.shape[1]
    mask = model._causal[:T, :T]
    for blk in model.transformer.resblocks:
        blk.attn_mask = mask
    x = emb + model.positional_embedding[:T]
    x = x.permute(1, 0, 2)  # NLD -> LND, as upstream
    x = model.transformer(x)
    x = x.permute(1, 0, 2)
    x = model.ln_final(x)
    return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ model.text_projection


def prompt_embeddings(model, ctx, ids):
    """[emb(SOT), ctx, emb(rest)]: Antidote's Clip.promptEmbeddings (CoOp's class-specific ctx)."""
    M = ctx.shape[1]
    emb = model.token_embedding(ids)
    return torch.cat([emb[:, :1], ctx, emb[:, 1 + M :]], dim=1)


def normalize_pixels(x01, mean, std):
    return (x01 - mean) / std


def encode_pixels(model, x01, mean, std):
    """Antidote's encodePixels: unit image features of [0, 1] pixels."""
    return F.normalize(model.encode_image(normalize_pixels(x01, mean, std)), dim=-1)


def features(model, x01, mean, std, chunk):
    """Antidote's imageFeatures: the same in chunks, no grad."""
    with torch.no_grad():
        parts = range(0, x01.shape[0], chunk)
        return torch.cat([encode_pixels(model, x01[s : s + chunk], mean, std) for s in parts])


def check_finite(pending, what):
    if not pending:
        return
    v = torch.stack(pending)
    if not bool(torch.isfinite(v).all()):
        raise RuntimeError(f"{what}: a loss became non-finite")
    pending.clear()


# ---- workloads -----------------------------------------------------------------------------------


def w_matmul(spec, _model, _inp):
    # Antidote: matmul(a, b) of f32 [M, K] x [K, N], values in [-0.5, 0.5), n products, one sync.
    M, K, N = spec["M"], spec["K"], spec["N"]
    g = torch.Generator().manual_seed(1)
    a = torch.rand(M, K, generator=g) - 0.5
    b = torch.rand(K, N, generator=g) - 0.5

    def run(calls):
        for _ in range(calls):
            torch.mm(a, b)

    return run


def w_text_fwd(spec, model, inp):
    # Antidote: noGrad(encodeText(ids [P, 77])).
    ids = inp["ids"].long()

    def run(calls):
        with torch.no_grad():
            for _ in range(calls):
                model.encode_text(ids)

    return run


def w_text_fwd_bwd_ctx(spec, model, inp):
    # Antidote: sum(encodeTextFromEmbeddings(promptEmbeddings(ctx, ids), ids)).backward(), ctx
    # [P, M, W] the only leaf that requires grad; the gradient is dropped after each call.
    ids = inp["ids"].long()
    ctx = inp["ctx"].clone().requires_grad_(True)

    def run(calls):
        for _ in range(calls):
            text_from_embeddings(model, prompt_embeddings(model, ctx, ids), ids).sum().backward()
            ctx.grad = None

    return run


def w_image_fwd(spec, model, inp):
    # Antidote: noGrad(encodeImage(pixels [B, 3, R, R])) (pixels already normalised).
    px = inp["pixels"]

    def run(calls):
        with torch.no_grad():
            for _ in range(calls):
                model.encode_image(px)

    return run


def w_image_fwd_bwd_pixels(spec, model, inp):
    # Antidote: sum(encodeImage(pixels)).backward() with the pixels the only leaf needing grad.
    px = inp["pixels"].clone().requires_grad_(True)

    def run(calls):
        for _ in range(calls):
            model.encode_image(px).sum().backward()
            px.grad = None

    return run


def w_stage1_step(spec, model, inp):
    # Antidote (run.ts stage1Side, the step of src/cbpt/trigger.ts invertOnce, additive trigger
    # aimed at the suspected target): x~ = clamp(x + delta, 0, 1) of a batch of B few-shot
    # images, unit features through the image tower, triggerInfoNce (src/cbpt/losses.ts) +
    # cross-entropy of scale * x~ . classText^T to the target, backward to delta, Adam, delta
    # projected onto the L-inf ball; losses read back every 16 steps.
    pixels, labels, class_text = inp["pixels"], inp["labels"].long(), inp["text0"]
    mean = torch.tensor(spec["mean"]).reshape(1, 3, 1, 1)
    std = torch.tensor(spec["std"]).reshape(1, 3, 1, 1)
    N = pixels.shape[0]
    B = min(spec["batch"], N)
    eps, tau, aim = spec["epsilon"], spec["tau"], spec["target"]
    scale = float(model.logit_scale.exp())
    clean = features(model, pixels, mean, std, 64)
    delta = inp["delta_init"].clone().requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=spec["lr"])
    sel = torch.zeros(B, 2 * B + 1)
    sel[:, :B] = 1.0 / ((B - 1) * B)
    sel[torch.arange(B), torch.arange(B)] = 0.0
    diag = torch.eye(B, dtype=torch.bool)
    aims = torch.full((B,), aim, dtype=torch.long)
    gen = torch.Generator().manual_seed(1)
    st = {"order": torch.arange(N), "at": N}

    def step():
        if st["at"] + B > N:
            st["order"] = torch.randperm(N, generator=gen)
            st["at"] = 0
        idx = st["order"][st["at"] : st["at"] + B]
        st["at"] += B
        trig = encode_pixels(model, torch.clamp(pixels[idx] + delta, 0, 1), mean, std)
        pos = (trig @ trig.T / tau).masked_fill(diag, -1e4)
        neg_img = trig @ clean[idx].T / tau
        neg_txt = (trig * class_text[labels[idx]]).sum(1, keepdim=True) / tau
        logp = torch.log_softmax(torch.cat([pos, neg_img, neg_txt], 1), dim=1)
        loss = -(logp * sel).sum() + F.cross_entropy(scale * trig @ class_text.T, aims)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            delta.clamp_(-eps, eps)
        return loss.detach()

    def run(calls):
        pending = []
        for _ in range(calls):
            pending.append(step())
            if len(pending) >= spec["readEvery"]:
                check_finite(pending, "stage 1")
        check_finite(pending, "stage 1")

    return run


def w_stage2_epoch(spec, model, inp):
    # Antidote (src/cbpt/tune.ts tunePrompts, the demo recipe: Adam, full batch so one step per
    # epoch, one view, margin L_3), `calls` epochs per call: unit image features of the few
    # shots, clean and triggered (zero trigger), cached once per call; then per step the class
    # prompts' unit text features from the context vectors, L_clean + lambda_bd L_bd + lambda_3
    # L_3, backward to the context, Adam with L2 weight decay, the learning rate of the warm-up /
    # cosine schedule; losses read back every 16 steps; the context read back at the end.
    s = spec["settings"]
    if s["views"] != 1 or s["optimizer"] != "adam" or s["third"] not in ("margin", "anchor"):
        raise RuntimeError("stage2_epoch mirrors views 1, Adam and the margin/anchor L_3 only")
    pixels, labels, text0 = inp["pixels"], inp["labels"].long(), inp["text0"]
    ids, init = inp["prompt_ids"].long(), inp["ctx_init"]
    mean = torch.tensor(spec["mean"]).reshape(1, 3, 1, 1)
    std = torch.tensor(spec["std"]).reshape(1, 3, 1, 1)
    trig_px = torch.clamp(pixels + inp["trigger"], 0, 1)
    N = pixels.shape[0]
    B = min(s["batch"], N)
    spe = math.ceil(N / B)
    scale = float(model.logit_scale.exp())
    target, margin = spec["target"], s["margin"]

    def lr_at(step, epochs):
        warm = s["warmupEpochs"] * spe
        if step < warm:
            return 1e-5
        total = epochs * spe - warm
        t = min(1.0, (step - warm) / max(1, total))
        return 0.5 * s["lr"] * (1 + math.cos(math.pi * t))

    def run(epochs):
        clean = features(model, pixels, mean, std, 32)
        trig = features(model, trig_px, mean, std, 32)
        ctx = init.clone().requires_grad_(True)
        opt = torch.optim.Adam([ctx], lr=s["lr"], weight_decay=s["weightDecay"])
        pending = []
        for epoch in range(1, epochs + 1):
            order = torch.randperm(N)
            for b in range(spe):
                idx = order[b * B : (b + 1) * B]
                y = labels[idx]
                for g in opt.param_groups:
                    g["lr"] = lr_at((epoch - 1) * spe + b, epochs)
                emb = prompt_embeddings(model, ctx, ids)
                text = F.normalize(text_from_embeddings(model, emb, ids), dim=-1)
                ci, ti = clean[idx], trig[idx]
                l_clean = F.cross_entropy(scale * ci @ text.T, y)
                l_bd = F.cross_entropy(scale * ti @ text.T, y)
                if s["third"] == "margin":
                    keep = y != target
                    sc = ti[keep] @ text.T
                    k = torch.arange(sc.shape[0])
                    l3 = torch.relu(sc[:, target] - sc[k, y[keep]] + margin).mean()
                else:
                    l3 = ((text - text0) ** 2).sum() / text.shape[0]
                total = l_clean + s["lambdaBd"] * l_bd + s["lambda3"] * l3
                total.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                pending.append(torch.stack([l_clean, l_bd, l3, total]).detach())
                if len(pending) >= spec["readEvery"]:
                    check_finite(pending, "stage 2")
        check_finite(pending, "stage 2")
        ctx.detach().clone()

    return run


def probe(model, inp, spec):
    """Features both sides compare before timing (run.ts prints how far apart they are)."""
    with torch.no_grad():
        if "ids" in inp:  # a released architecture: the workloads' own inputs
            image = model.encode_image(inp["pixels"])
            text = model.encode_text(inp["ids"].long())
        else:  # the fixture: unit features of 8 few shots, prompts from the initial context
            mean = torch.tensor(spec["mean"]).reshape(1, 3, 1, 1)
            std = torch.tensor(spec["std"]).reshape(1, 3, 1, 1)
            image = encode_pixels(model, inp["pixels"][:8], mean, std)
            ids = inp["prompt_ids"].long()
            emb = prompt_embeddings(model, inp["ctx_init"], ids)
            text = F.normalize(text_from_embeddings(model, emb, ids), dim=-1)
    return {"image": image.flatten().tolist(), "text": text.flatten().tolist()}


WORKLOADS = {
    "matmul": w_matmul,
    "text_fwd": w_text_fwd,
    "text_fwd_bwd_ctx": w_text_fwd_bwd_ctx,
    "image_fwd": w_image_fwd,
    "image_fwd_bwd_pixels": w_image_fwd_bwd_pixels,
    "stage1_step": w_stage1_step,
    "stage2_epoch": w_stage2_epoch,
}

# ---- the loop ------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip-src", default="")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="load model.py, answer hello, exit")
    args = ap.parse_args()
    try:
        up, model_py = load_upstream(args.clip_src)
    except Exception as e:  # noqa: BLE001 - one line back to run.ts
        fail_check(str(e))
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    hello = {
        "ok": True,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "threads": torch.get_num_threads(),
        "model_py": model_py,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
    }
    if args.check:
        print(json.dumps(hello), file=PROTO, flush=True)
        return
    models, inputs = {}, {}
    current = None

    def ensure(d):
        if d not in models:
            cfg = json.load(open(os.path.join(d, "vs-torch-config.json")))
            models[d] = build_clip(up, cfg, read_safetensors(os.path.join(d, cfg["weights"])))
            inputs[d] = read_safetensors(os.path.join(d, "vs-torch-inputs.safetensors"))

    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "hello":
                ans = hello
            elif op == "setup":
                d, spec = req.get("dir"), req.get("spec", {})
                model = inp = None
                if d:
                    ensure(d)
                    model, inp = models[d], inputs[d]
                current = WORKLOADS[req["workload"]](spec, model, inp)
                ans = {"ok": True}
            elif op == "probe":
                d = req["dir"]
                ensure(d)
                ans = {"ok": True, **probe(models[d], inputs[d], req.get("spec", {}))}
            elif op == "run":
                t0 = time.perf_counter()
                current(int(req["calls"]))
                ans = {"ok": True, "seconds": time.perf_counter() - t0}
            elif op == "drop":
                models.pop(req["dir"], None)
                inputs.pop(req["dir"], None)
                current = None
                ans = {"ok": True}
            elif op == "quit":
                print(json.dumps({"ok": True}), file=PROTO, flush=True)
                return
            else:
                ans = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as e:  # noqa: BLE001 - the error goes back to run.ts
            ans = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(ans), file=PROTO, flush=True)


if __name__ == "__main__":
    main()
