#!/usr/bin/python3
"""Writes the weight-file fixtures of tests/test_convert.cpp into tests/reference/convert/.

Run with the system Python that has PyTorch 1.13 (`/usr/bin/python3 make_convert_fixtures.py`);
the tests read the committed files and never need Python.

  zip.pth         torch.save (zip format): f32, f16, bf16, f64, i64 counter, an nn.Parameter,
                  a transposed (non-contiguous) view and two views sharing one storage at offsets
  legacy.pth      the same dict, _use_new_zipfile_serialization=False (PyTorch < 1.6 format)
  wrapped.pth     {'state_dict': {'module.*': ...}, 'epoch': 3}: a DataParallel checkpoint
  model_legacy.pth {'model': {'module.*': ...}} in the legacy format
  zip64.pth       zip.pth's entries rewritten as ZIP64 (sizes and offsets only in zip64 extra
                  fields, zip64 end records), local headers with data descriptors as PyTorch
                  writes them, top folder renamed
  bigendian.pth   zip.pth's entries with every storage byte-swapped and byteorder = "big"
  hand.safetensors a safetensors file written byte by byte (F32, F16, BF16, F64, I64)
  resnet50_narrow.pth  torch.save(state_dict()) of torchvision's ResNet-50 (names, layouts, the
                  1000-class fc, num_batches_tracked) at width 2 instead of 64, so that a test can
                  convert a real torch.save'd ResNet-50 file and train AG-CNN from it (not in
                  expected.json: test_convert checks its values against PyTorch's through training)
  expected.json   per fixture: format and, in file order, each tensor's name, stored dtype,
                  shape and values as float32 (exact), after unwrapping and prefix stripping
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "convert")
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.float64: "F64", torch.int64: "I64"}


def state():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(12, dtype=torch.float32) * 0.5
    sd = {
        "conv.weight": torch.randn(2, 3, 3, 3, generator=g),
        "bn.running_mean": torch.randn(4, generator=g),
        "bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "half": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "double": torch.randn(3, 2, generator=g).double(),
        "param": torch.nn.Parameter(torch.randn(3, generator=g)),
        "transposed": base[:, 1:5].t(),           # stride (1, 6), offset 1
        "shared_slice": shared[2:6],               # offset 2 into a 12-element storage
        "shared_column": shared.view(3, 4)[:, 1],  # stride 4, offset 1, same storage
    }
    assert not sd["transposed"].is_contiguous() and sd["shared_slice"].storage_offset() == 2
    return sd


def expected(sd, strip=""):
    out = []
    for name, t in sd.items():
        t = t.detach()
        values = t.float().reshape(-1).tolist() if t.is_floating_point() else t.reshape(-1).tolist()
        out.append({"name": name[len(strip):] if name.startswith(strip) else name,
                    "dtype": DTYPES[t.dtype], "shape": list(t.shape), "values": values})
    return out


def save(obj, name, legacy=False):
    torch.save(obj, os.path.join(HERE, name), _use_new_zipfile_serialization=not legacy)


def write_zip(path, entries, zip64):
    """A stored-entries zip as PyTorch writes it (bit 3, data descriptors), optionally ZIP64."""
    out, central = io.BytesIO(), []
    for name, data in entries:
        offset, raw = out.tell(), name.encode()
        crc = zlib.crc32(data)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 8, 0, 0, 0, 0, 0, 0, len(raw), 0))
        out.write(raw + data)
        out.write(struct.pack("<IIQQ", 0x08074B50, crc, len(data), len(data)))
        central.append((raw, crc, len(data), offset))
    start = out.tell()
    for raw, crc, size, offset in central:
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
            fields = (0xFFFFFFFF, 0xFFFFFFFF, len(raw), len(extra), 0, 0, 0, 0, 0xFFFFFFFF)
        else:
            extra = b""
            fields = (size, size, len(raw), 0, 0, 0, 0, 0, offset)
        out.write(struct.pack("<IHHHHHHI", 0x02014B50, 45, 45, 8, 0, 0, 0, crc))
        out.write(struct.pack("<IIHHHHHII", *fields) + raw + extra)
    size, count = out.tell() - start, len(central)
    if zip64:
        end64 = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, start))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(out.getvalue())


ELEMENT_SIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
                "LongStorage": 8}


def storage_element_sizes(pickle_bytes):
    """Storage key -> element size, from the persistent ids ('storage', type, key, ...)."""
    sizes = {}

    class Ids(pickle.Unpickler):
        def find_class(self, module, name):
            return (lambda *args: None) if module == "torch._utils" else super().find_class(module, name)

        def persistent_load(self, pid):
            sizes["data/" + pid[2]] = ELEMENT_SIZE[pid[1].__name__]

    Ids(io.BytesIO(pickle_bytes)).load()
    return sizes


def rewritten_zips():
    """zip64.pth and bigendian.pth from zip.pth's entries."""
    archive = zipfile.ZipFile(os.path.join(HERE, "zip.pth"))
    entries = [(i.filename.split("/", 1)[1], archive.read(i)) for i in archive.infolist()]
    write_zip("zip64.pth", [("renamed top/" + n, d) for n, d in entries], zip64=True)
    sizes = storage_element_sizes(dict(entries)["data.pkl"])
    swapped = []
    for name, data in entries:
        if name in sizes:
            n = sizes[name]
            data = b"".join(data[i:i + n][::-1] for i in range(0, len(data), n))
        swapped.append(("archive/" + name, data))
    write_zip("bigendian.pth", swapped + [("archive/byteorder", b"big")], zip64=False)


def write_safetensors(path, tensors):
    """The safetensors layout by hand: u64 header length, JSON header, data block."""
    header, blobs, offset = {"__metadata__": {"written_by": "make_convert_fixtures.py"}}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.int16 if t.dtype == torch.bfloat16 else t.dtype).numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def narrow_resnet50():
    """NarrowResNet50 of make_reference.py at width 2, 1000 classes, non-trivial batch norm."""
    sys.path.insert(0, os.path.dirname(HERE))
    from make_reference import NarrowResNet50, random_running_statistics
    torch.manual_seed(4)
    net = NarrowResNet50(2, 1000, "avg")
    random_running_statistics(net)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("num_batches_tracked"):
                buf.fill_(100)
    return net


def main():
    os.makedirs(HERE, exist_ok=True)
    save(narrow_resnet50().state_dict(), "resnet50_narrow.pth")
    sd = state()
    save(sd, "zip.pth")
    save(sd, "legacy.pth", legacy=True)
    small = {k: sd[k] for k in ("conv.weight", "bn.running_mean", "bn.num_batches_tracked")}
    dp = {"module." + k: v for k, v in small.items()}
    save({"state_dict": dp, "epoch": 3}, "wrapped.pth")
    save({"model": dp}, "model_legacy.pth", legacy=True)
    rewritten_zips()
    hand = {k: sd[k].detach() for k in ("conv.weight", "half", "bf16", "double", "bn.num_batches_tracked")}
    write_safetensors("hand.safetensors", hand)
    full, fmt = expected(sd), {"format": "pytorch-zip"}
    result = {
        "zip.pth": dict(fmt, tensors=full),
        "legacy.pth": {"format": "pytorch-legacy", "tensors": full},
        "zip64.pth": dict(fmt, tensors=full),
        "bigendian.pth": dict(fmt, tensors=full),
        "wrapped.pth": dict(fmt, tensors=expected(dp, "module.")),
        "model_legacy.pth": {"format": "pytorch-legacy", "tensors": expected(dp, "module.")},
        "hand.safetensors": {"format": "safetensors", "tensors": expected(hand)},
    }
    # The reference values are PyTorch's own reading of each file.
    for name in ("zip.pth", "legacy.pth", "wrapped.pth", "model_legacy.pth", "zip64.pth"):
        loaded = torch.load(os.path.join(HERE, name), weights_only=True)
        loaded = loaded.get("state_dict", loaded.get("model", loaded))
        assert expected(loaded, "module.") == result[name]["tensors"], name
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
