"""Files made here for the byte-model tab (bGPT): text, CSV, JSON, small BMP images and toy-CPU traces.

Every generator is deterministic by seed and returns plain ``bytes``; nothing here imports torch.

* ``text``: windows of State of the Union addresses (the trainer's corpus, split by address: held-out files come
  from held-out addresses only).
* ``csv``: small tables (a header, then rows of dates, places, counts and prices).
* ``json``: a list of records with names, ids, nested tags and numbers.
* ``bmp``: 16 x 16 (or 32 x 32) 24-bit Windows bitmaps of a few filled rectangles and discs on a plain
  background, with real 54-byte headers (BITMAPFILEHEADER + BITMAPINFOHEADER, bottom-up BGR rows).
* ``cpu``: toy-CPU traces in the spirit of the paper: a random program, then the 16-byte machine state before
  the first step and after each step (:class:`ToyCPU`).

The toy CPU. The state is 16 bytes laid out as in the paper: PC (1 byte), accumulator (1), instruction register
(4: opcode, a, b, immediate) and 10 general registers. Eight opcodes, every one writes register ``a``::

    0 LDI a, imm   R[a] = imm          4 AND a, b   R[a] = R[a] & R[b]
    1 MOV a, b     R[a] = R[b]         5 OR  a, b   R[a] = R[a] | R[b]
    2 ADD a, b     R[a] = R[a] + R[b]  6 XOR a, b   R[a] = R[a] ^ R[b]
    3 SUB a, b     R[a] = R[a] - R[b]  7 INC a      R[a] = R[a] + 1

Arithmetic is modulo 2**bits (``bits`` = 4 by default: values 0-15 in a byte, so that a tiny model can learn the
tables in minutes; 8 gives full bytes, as in the paper). After an instruction the accumulator holds the value
written, PC the index of the next instruction, IR the instruction's 4 bytes. A trace file is the program
(n = 1-8 instructions of 4 bytes, padded to 32 bytes with 0xFF), the initial state (PC = ACC = IR = 0, random
registers), then the state after each of the n steps: 48 + 16 n bytes, every state on a 16-byte patch of its
own. Programs run straight through (no jumps), as the paper's CPU states are per executed instruction.
"""
from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass

from backends.config import InputError

FILE_TYPES = ("text", "csv", "json", "bmp", "cpu")
STATE_BYTES = 16  # PC, ACC, IR[4], R0-R9
N_REGISTERS = 10
MAX_INSTRUCTIONS = 8
PROGRAM_BYTES = 4 * MAX_INSTRUCTIONS  # the program area: two 16-byte patches
PAD = 0xFF  # fills the program area after the last instruction
OPCODES = ("LDI", "MOV", "ADD", "SUB", "AND", "OR", "XOR", "INC")
TEXT_BYTES = 512  # length of a text, CSV or JSON file (about; CSV and JSON end on a whole row / record)


# ----- the toy CPU ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyCPU:
    """A 16-byte-state machine with 10 registers and 8 opcodes; values modulo 2**bits."""

    bits: int = 4
    registers: int = N_REGISTERS

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1

    def random_program(self, rng: random.Random, n: int) -> list[tuple[int, int, int, int]]:
        """n random instructions (op, a, b, imm); fields an opcode does not use are 0."""
        prog = []
        for _ in range(n):
            op = rng.randrange(len(OPCODES))
            a = rng.randrange(self.registers)
            b = rng.randrange(self.registers) if op in (1, 2, 3, 4, 5, 6) else 0
            imm = rng.randrange(self.mask + 1) if op == 0 else 0
            prog.append((op, a, b, imm))
        return prog

    def step(self, state: bytes, instr: tuple[int, int, int, int]) -> bytes:
        """The state after executing ``instr`` from ``state`` (16 bytes in, 16 bytes out)."""
        pc, _, *_ir = state[:6]
        regs = list(state[6:6 + self.registers])
        op, a, b, imm = instr
        x, y, m = regs[a], regs[b], self.mask
        value = [imm, y, x + y, x - y, x & y, x | y, x ^ y, x + 1][op] & m
        regs[a] = value
        out = bytes([(pc + 1) & 0xFF, value, op, a, b, imm] + regs)
        return out + bytes(STATE_BYTES - len(out))

    def initial_state(self, rng: random.Random) -> bytes:
        regs = [rng.randrange(self.mask + 1) for _ in range(self.registers)]
        return bytes([0] * 6 + regs + [0] * (STATE_BYTES - 6 - self.registers))

    def trace(self, program: list[tuple[int, int, int, int]], start: bytes) -> list[bytes]:
        """States: ``start``, then the state after each instruction."""
        states = [start]
        for instr in program:
            states.append(self.step(states[-1], instr))
        return states


def cpu_file(rng: random.Random, cpu: ToyCPU | None = None, n: int | None = None) -> bytes:
    """One trace file: program (padded to 32 bytes), initial state, state after each step."""
    cpu = cpu or ToyCPU()
    n = n if n is not None else rng.randint(1, MAX_INSTRUCTIONS)
    prog = cpu.random_program(rng, n)
    code = b"".join(bytes(i) for i in prog)
    code += bytes([PAD]) * (PROGRAM_BYTES - len(code))
    return code + b"".join(cpu.trace(prog, cpu.initial_state(rng)))


def cpu_state_span(data: bytes) -> tuple[int, int]:
    """[start, end) of the bytes to predict in a trace file: the states after each step (not the program, not
    the initial state, which the model is given)."""
    return PROGRAM_BYTES + STATE_BYTES, len(data)


def rule_baselines(traces: list[bytes]) -> dict[str, float]:
    """Byte-wise accuracy, on the state bytes after each step, of two rules that execute nothing: "copy" predicts
    the previous state with the PC advanced; "copy + fetch" also reads the instruction register from the program
    at the PC. What remains is execution itself: the accumulator and the written register (2 of 16 bytes)."""
    right = {"copy": 0, "copy + fetch": 0}
    total = 0
    for f in traces:
        a, b = cpu_state_span(f)
        for i in range(a, b, STATE_BYTES):
            prev, truth = bytearray(f[i - STATE_BYTES: i]), f[i: i + STATE_BYTES]
            prev[0] = (prev[0] + 1) & 0xFF
            right["copy"] += sum(x == y for x, y in zip(prev, truth))
            pc = f[i - STATE_BYTES]
            prev[2:6] = f[4 * pc: 4 * pc + 4]
            right["copy + fetch"] += sum(x == y for x, y in zip(prev, truth))
            total += STATE_BYTES
    return {k: v / max(total, 1) for k, v in right.items()}


def describe_instr(instr: bytes) -> str:
    """'ADD r1,r4' for 4 instruction bytes."""
    op, a, b, imm = instr[:4]
    name = OPCODES[op] if op < len(OPCODES) else f"?{op}"
    return f"{name} " + {0: f"r{a},{imm}", 7: f"r{a}"}.get(op, f"r{a},r{b}")


def describe_state(state: bytes) -> str:
    """'PC 3 ACC 7 IR ADD r1,r4 | R 0 5 ...' for a 16-byte state (for tables in the tab)."""
    regs = " ".join(str(v) for v in state[6:6 + N_REGISTERS])
    return f"PC {state[0]} ACC {state[1]} IR {describe_instr(state[2:6])} | R {regs}"


# ----- text, CSV, JSON ------------------------------------------------------------------------------------------


_SOTU: dict[str, tuple[list[str], list[str]]] = {}


def _sotu() -> tuple[list[str], list[str]]:
    if "split" not in _SOTU:
        from backends.training import _sotu_split

        _SOTU["split"] = _sotu_split()
    return _SOTU["split"]


def text_file(rng: random.Random, heldout: bool = False, size: int = TEXT_BYTES) -> bytes:
    """A window of ``size`` bytes from a training (or held-out) address, starting at a line or sentence."""
    texts = _sotu()[1 if heldout else 0]
    t = texts[rng.randrange(len(texts))].encode("utf-8")
    start = rng.randrange(max(1, len(t) - size))
    cut = t.find(b" ", start)
    start = cut + 1 if 0 <= cut < start + 64 else start
    return t[start:start + size]


CITIES = ("Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Denver", "Perth", "Tunis", "Quito", "Hanoi", "Riga", "Accra")
ITEMS = ("apples", "bolts", "cables", "paper", "tea", "rice", "soap", "wire")
NAMES = ("Ada", "Ben", "Chloe", "Dev", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luis")
TAGS = ("new", "sale", "bulk", "eco", "gift", "local", "rare", "fast")


def csv_file(rng: random.Random, size: int = TEXT_BYTES) -> bytes:
    """A sales table: header, then whole rows until about ``size`` bytes."""
    rows = ["date,city,item,units,unit_price,total"]
    day = rng.randrange(365)
    length = len(rows[0]) + 1
    while True:
        day += rng.randrange(0, 3)
        units, price = rng.randint(1, 400), rng.randint(50, 9999) / 100
        row = (f"2024-{1 + day // 31 % 12:02d}-{1 + day % 28:02d},{rng.choice(CITIES)},{rng.choice(ITEMS)},"
               f"{units},{price:.2f},{units * price:.2f}")
        if length + len(row) + 1 > size:
            break
        rows.append(row)
        length += len(row) + 1
    return ("\n".join(rows) + "\n").encode()


def json_file(rng: random.Random, size: int = TEXT_BYTES) -> bytes:
    """A JSON list of customer records, as many whole records as fit in about ``size`` bytes."""
    records: list[dict] = []
    out = b"[]"
    while True:
        rec = {"id": rng.randrange(10_000, 99_999), "name": rng.choice(NAMES), "city": rng.choice(CITIES),
               "active": rng.random() < 0.7, "score": round(rng.uniform(0, 100), 1),
               "tags": rng.sample(TAGS, rng.randint(0, 3))}
        trial = json.dumps(records + [rec], indent=1).encode()
        if len(trial) > size and records:
            return out
        records.append(rec)
        out = trial


# ----- BMP images -----------------------------------------------------------------------------------------------


def bmp_bytes(pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """A 24-bit BMP of ``pixels`` (rows top to bottom of (r, g, b)): 14-byte file header, 40-byte info header,
    rows stored bottom-up as B, G, R, each padded to a multiple of 4 bytes."""
    h, w = len(pixels), len(pixels[0])
    row_bytes = (3 * w + 3) // 4 * 4
    image = b"".join(bytes(c for r, g, b in row for c in (b, g, r)) + bytes(row_bytes - 3 * w)
                     for row in reversed(pixels))
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(image), 2835, 2835, 0, 0)
    header = struct.pack("<2sIHHI", b"BM", 14 + 40 + len(image), 0, 0, 14 + 40)
    return header + info + image


PALETTE = ((255, 255, 255), (0, 0, 0), (220, 40, 40), (40, 160, 60), (40, 80, 200), (250, 200, 30),
           (120, 60, 160), (0, 170, 170))


def bmp_file(rng: random.Random, side: int = 16) -> bytes:
    """A ``side`` x ``side`` picture: a plain background with 1-3 filled rectangles or discs."""
    bg = rng.choice(PALETTE[:2])
    px = [[bg] * side for _ in range(side)]
    for _ in range(rng.randint(1, 3)):
        color = rng.choice([c for c in PALETTE if c != bg])
        x0, y0 = rng.randrange(side - 3), rng.randrange(side - 3)
        x1, y1 = rng.randint(x0 + 3, side), rng.randint(y0 + 3, side)
        disc = rng.random() < 0.5
        cx, cy, r2 = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2, (min(x1 - x0, y1 - y0) / 2) ** 2
        for y in range(y0, y1):
            for x in range(x0, x1):
                if not disc or (x - cx) ** 2 + (y - cy) ** 2 <= r2:
                    px[y][x] = color
    return bmp_bytes(px)


# ----- mixtures -------------------------------------------------------------------------------------------------


def make_file(kind: str, rng: random.Random, *, heldout: bool = False, cpu: ToyCPU | None = None) -> bytes:
    """One file of type ``kind`` (one of FILE_TYPES)."""
    if kind == "text":
        return text_file(rng, heldout)
    if kind == "csv":
        return csv_file(rng)
    if kind == "json":
        return json_file(rng)
    if kind == "bmp":
        return bmp_file(rng)
    if kind == "cpu":
        return cpu_file(rng, cpu)
    raise InputError(f"Unknown file type {kind!r}: choose from {', '.join(FILE_TYPES)}.")


def check_mixture(mixture) -> tuple[str, ...]:
    """The file types to train on (an iterable of names from FILE_TYPES, or a comma-separated string)."""
    if mixture is None:
        return FILE_TYPES
    if isinstance(mixture, str):
        mixture = [m.strip() for m in mixture.split(",") if m.strip()]
    try:
        kinds = [str(m).strip().lower() for m in mixture]
    except TypeError:
        raise InputError(f"The mixture must be a list of file types, got {mixture!r}.") from None
    bad = [k for k in kinds if k not in FILE_TYPES]
    if bad or not kinds:
        raise InputError(f"Unknown file type(s) {bad or 'none given'}: choose from {', '.join(FILE_TYPES)}.")
    return tuple(k for k in FILE_TYPES if k in kinds)


def file_sets(kinds: tuple[str, ...], n_train: int, n_heldout: int, seed: int) -> tuple[dict, dict]:
    """({kind: [bytes] * n_train}, {kind: [bytes] * n_heldout}); training and held-out files come from separate
    random streams (and, for text, from separate addresses)."""
    train, held = {}, {}
    for i, kind in enumerate(kinds):
        r_train = random.Random(f"{seed}:{kind}:train")
        r_held = random.Random(f"{seed}:{kind}:heldout:{i}")
        train[kind] = [make_file(kind, r_train) for _ in range(n_train)]
        held[kind] = [make_file(kind, r_held, heldout=True) for _ in range(n_heldout)]
    return train, held


def cpu_sets(n_programs: int, n_heldout: int, seed: int, cpu: ToyCPU | None = None) -> tuple[list, list]:
    """Training traces (``n_programs``) and held-out traces, all of the full 8 steps for the held-out ones so
    every held-out file scores the same number of states; held-out programs never appear in training."""
    cpu = cpu or ToyCPU()
    r_train, r_held = random.Random(f"{seed}:cpu-train"), random.Random(f"{seed}:cpu-heldout")
    held = [cpu_file(r_held, cpu, MAX_INSTRUCTIONS) for _ in range(n_heldout)]
    seen = {h[:PROGRAM_BYTES + STATE_BYTES] for h in held}
    train = []
    while len(train) < n_programs:
        f = cpu_file(r_train, cpu)
        if f[:PROGRAM_BYTES + STATE_BYTES] not in seen:
            train.append(f)
    return train, held


# ----- compressors as a reference -------------------------------------------------------------------------------


def compressed_bits(data: bytes) -> dict[str, int]:
    """Bits of ``data`` compressed by gzip (level 9), bz2 (9), lzma (xz, preset 6: 9 only adds a larger window, and
    takes 10x longer to set up) and zstd (19), headers included (a compressor knows only the file itself)."""
    import bz2
    import gzip
    import lzma

    import zstandard

    return {"gzip": 8 * len(gzip.compress(data, 9, mtime=0)), "bz2": 8 * len(bz2.compress(data, 9)),
            "lzma": 8 * len(lzma.compress(data, preset=6)),
            "zstd": 8 * len(zstandard.ZstdCompressor(level=19).compress(data))}


COMPRESSORS = ("gzip", "bz2", "lzma", "zstd")


def reference_bpb(files: list[bytes]) -> dict[str, dict[str, float]]:
    """Compressed bits per byte of ``files``: ``per_file`` (each file compressed alone, summed: the same unit as
    the model's per-file BPB) and ``joined`` (all files in one stream: the compressor can learn across files,
    a kinder reference for small files)."""
    if not isinstance(files, (list, tuple)) or not all(isinstance(f, (bytes, bytearray)) for f in files):
        raise InputError("The compressor reference takes a list of files as bytes.")
    total = sum(len(f) for f in files) or 1
    per = {c: 0 for c in COMPRESSORS}
    for f in files:
        for c, bits in compressed_bits(f).items():
            per[c] += bits
    joined = compressed_bits(b"".join(files))
    return {"per_file": {c: per[c] / total for c in COMPRESSORS},
            "joined": {c: joined[c] / total for c in COMPRESSORS}}
