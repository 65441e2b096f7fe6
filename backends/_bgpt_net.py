"""The bGPT network (Wu et al. 2024) as one small PyTorch module; imported inside functions (it imports torch).

Shapes: B files, N patches of S = 16 bytes, H hidden, V = 257 symbols (256 bytes + the end-of-patch symbol 256,
which pads the last patch of a file and the patches after it).

* Patch embedding: E_i = Flatten(onehot(P_i)) @ W_linear, W_linear of shape (V*S) x H. A one-hot row picks one
  row of W_linear per byte position, so the product is a sum of S rows: row j*V + b_{i,j} for j = 0..S-1
  (``embed_patches``; the unit tests check it against the explicit one-hot product).
* Patch-level decoder: a causal transformer over [BOS, P_1, ..., P_{N-1}] (BOS: a patch of end-of-patch symbols)
  plus learned positional embeddings; its output at position i is E^_i, the features of patch i + 1.
* Byte-level decoder: for each patch separately, a causal transformer over [E^_i, emb(b_1), ..., emb(b_{S-1})]
  (+ byte positions) whose output at position j gives p(b_j | E^_i, b_<j): autoregressive within a patch,
  independent across patches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

V = 257
EOP = 256


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a GELU MLP (4 x H)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.proj = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        b, t, h = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, H/heads)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, h))
        return x + self.mlp(self.ln2(x))


class BGPT(nn.Module):
    def __init__(self, hidden: int = 128, patch_layers: int = 3, byte_layers: int = 1, heads: int = 4,
                 max_patches: int = 64, patch_size: int = 16):
        super().__init__()
        self.S, self.max_patches = patch_size, max_patches
        self.patch_embed = nn.Embedding(V * patch_size, hidden)  # the rows of W_linear, (V*S) x H
        self.patch_pos = nn.Embedding(max_patches, hidden)
        self.patch_blocks = nn.ModuleList(Block(hidden, heads) for _ in range(patch_layers))
        self.patch_norm = nn.LayerNorm(hidden)
        self.byte_embed = nn.Embedding(V, hidden)
        self.byte_pos = nn.Embedding(patch_size, hidden)
        self.byte_blocks = nn.ModuleList(Block(hidden, heads) for _ in range(byte_layers))
        self.byte_norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, V)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """(..., S) symbols -> (..., H): Flatten(onehot(P)) @ W_linear, as a sum of the rows it selects."""
        offsets = torch.arange(self.S, device=patches.device) * V
        return self.patch_embed(patches + offsets).sum(-2)

    def patch_features(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, N, S) patches of a file -> (B, N, H): E^_i for i = 0..N-1, the features that predict patch i
        (from BOS and patches before it)."""
        b, n, s = patches.shape
        if n > self.max_patches:
            raise ValueError(f"{n} patches; the model was built for at most {self.max_patches}")
        bos = torch.full((b, 1, s), EOP, dtype=patches.dtype, device=patches.device)
        x = self.embed_patches(torch.cat([bos, patches[:, :-1]], 1))
        x = x + self.patch_pos(torch.arange(n, device=patches.device))
        for blk in self.patch_blocks:
            x = blk(x)
        return self.patch_norm(x)

    def byte_logits(self, feats: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(M, H) patch features and (M, S) target patches -> (M, S, V) logits of each target byte given the
        features and the patch's earlier bytes (teacher forcing). ``targets`` may be shorter than S (a partial
        patch while generating)."""
        t = targets.shape[1]
        x = torch.cat([feats[:, None], self.byte_embed(targets[:, : t - 1])], 1) if t > 1 else feats[:, None]
        x = x + self.byte_pos(torch.arange(x.shape[1], device=x.device))
        for blk in self.byte_blocks:
            x = blk(x)
        return self.head(self.byte_norm(x))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, S) -> (logits (M, S, V), index (M,)) for the M patches that hold at least one real byte;
        ``index`` gives each one's flat position b * N + i."""
        b, n, s = patches.shape
        feats = self.patch_features(patches).reshape(b * n, -1)
        flat = patches.reshape(b * n, s)
        index = (flat != EOP).any(1).nonzero().squeeze(1)
        return self.byte_logits(feats[index], flat[index]), index
