// agcnn/io/pickle_reader.hpp — a pickle stack machine that executes nothing, for PyTorch
// state_dicts.
//
// Contract: unpickle(bytes, persistent_load, path) runs the pickle program at the start of `bytes`
// and returns the value STOP leaves, the arena that owns every object and the number of bytes
// read (PyTorch's legacy format puts several pickles one after another); or throws agcnn::Error
// naming `path` and the offending opcode, global or size. It mirrors torch's weights-only
// unpickler (torch/_weights_only_unpickler.py), narrowed to what a state_dict needs:
//   opcodes  PROTO STOP GLOBAL REDUCE BUILD BINPERSID MARK TUPLE TUPLE1-3 EMPTY_TUPLE/LIST/DICT
//            APPEND(S) SETITEM(S) NONE NEWTRUE NEWFALSE BININT BININT1 BININT2 LONG1 BINFLOAT
//            BINUNICODE SHORT_BINSTRING BINPUT LONG_BINPUT BINGET LONG_BINGET
//   globals  collections.OrderedDict, torch._utils._rebuild_tensor(_v2), _rebuild_parameter,
//            torch.{Float,Half,BFloat16,Double,Long}Storage
// Anything else is refused by name. No Python object is ever created: REDUCE on an allowed
// global builds a plain record (a dict, a tensor view of a storage) and nothing else.
//
// Objects live in an arena and are referred to by index, so memo sharing and even cycles
// (a list appended to itself) cost nothing and leak nothing. Every object, stack slot, memo slot
// and container element is paid for by at least one input byte, and string lengths are checked
// against the bytes left, so memory is linear in the input size.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::io::pickle {

enum class Kind { none, boolean, integer, real, object };

// A stack value: a scalar, or a reference to an arena object.
struct Value {
    Kind kind = Kind::none;
    std::int64_t integer = 0;  // boolean, integer; arena index for objects
    double real = 0;
};

enum class ObjectKind { string, big_integer, tuple, list, dict, global, storage, tensor };

// A tensor view: `numel`-element row-major tensor reading storage[offset + sum(i_k * stride_k)].
struct TensorView {
    std::size_t storage = 0;  // arena index of a storage object
    std::int64_t offset = 0;
    std::vector<std::int64_t> size, stride;
};

// A storage loaded by the persistent_load callback: its element type and where its bytes are.
struct StorageRef {
    std::string dtype;  // safetensors spelling: F32, F16, BF16, F64, I64
    std::string key;    // archive key ("0", "1", ...)
    std::int64_t numel = 0;
};

struct Object {
    ObjectKind kind = ObjectKind::string;
    std::string text;          // string, global "module.name", big integer bytes
    std::vector<Value> items;  // tuple, list; dict as key, value, key, value...
    StorageRef storage;
    TensorView tensor;
};

struct Arena {
    std::vector<Object> objects;

    const Object& at(const Value& v) const {
        return objects.at(static_cast<std::size_t>(v.integer));
    }
    bool is(const Value& v, ObjectKind kind) const {
        return v.kind == Kind::object && at(v).kind == kind;
    }
    Value add(Object object) {
        objects.push_back(std::move(object));
        return {Kind::object, static_cast<std::int64_t>(objects.size() - 1), 0};
    }
    // A word for people: "str", "tuple", "torch._utils._rebuild_tensor_v2", ...
    std::string describe(const Value& v) const {
        switch (v.kind) {
            case Kind::none: return "None";
            case Kind::boolean: return "bool";
            case Kind::integer: return "int";
            case Kind::real: return "float";
            case Kind::object: break;
        }
        const Object& o = at(v);
        static const char* names[] = {"str",  "int", "tuple",   "list",
                                      "dict", "",    "storage", "tensor"};
        return o.kind == ObjectKind::global ? o.text : names[static_cast<int>(o.kind)];
    }
};

// The persistent_load hook: given the persistent id (a tuple), returns a storage object.
using PersistentLoad = std::function<StorageRef(const Arena&, const Value& pid)>;

struct Result {
    Arena arena;
    Value root;
    std::size_t end = 0;  // bytes consumed, up to and including STOP
};

// The storage types a state_dict may hold, as torch names them, with their safetensors dtype.
inline const char* storage_dtype(std::string_view global) {
    static const std::pair<const char*, const char*> types[] = {{"torch.FloatStorage", "F32"},
                                                                {"torch.HalfStorage", "F16"},
                                                                {"torch.BFloat16Storage", "BF16"},
                                                                {"torch.DoubleStorage", "F64"},
                                                                {"torch.LongStorage", "I64"}};
    for (const auto& [name, dtype] : types)
        if (global == name) return dtype;
    return nullptr;
}

inline bool allowed_global(std::string_view name) {
    return name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor" ||
           name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_parameter" ||
           storage_dtype(name) != nullptr;
}

namespace detail {

class Machine {
public:
    Machine(std::string_view bytes, const PersistentLoad& load, const std::string& path)
        : in_(bytes), load_(load), path_(path) {}

    Result run() {
        while (true) {
            const std::size_t at = pos_;
            const auto op = static_cast<unsigned char>(take(1, "an opcode")[0]);
            if (op == '.') {
                AGCNN_CHECK(marks_.empty(), fail(at), "STOP inside an open MARK");
                const Value root = pop(at);
                return {std::move(arena_), root, pos_};
            }
            step(op, at);
        }
    }

private:
    std::string fail(std::size_t at) const {
        return path_ + ": bad pickle at byte " + std::to_string(at) + ": ";
    }
    std::string_view take(std::size_t count, const char* what) {
        AGCNN_CHECK(count <= in_.size() - pos_, path_, ": bad pickle: truncated (", what, " needs ",
                    count, " bytes at byte ", pos_, ", ", in_.size() - pos_, " left)");
        const std::string_view out = in_.substr(pos_, count);
        pos_ += count;
        return out;
    }
    template <class T>
    T take_le(const char* what) {
        T value;
        std::memcpy(&value, take(sizeof(T), what).data(), sizeof(T));
        return value;
    }
    std::string_view take_line(const char* what) {
        const std::size_t end = in_.find('\n', pos_);
        AGCNN_CHECK(end != std::string_view::npos, path_, ": bad pickle: unterminated ", what);
        const std::string_view out = in_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return out;
    }

    void push(Value v) { stack_.push_back(v); }
    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    Value pop(std::size_t at) {
        AGCNN_CHECK(stack_.size() > floor(), fail(at), "stack underflow");
        Value v = stack_.back();
        stack_.pop_back();
        return v;
    }
    Value& top(std::size_t at) {
        AGCNN_CHECK(stack_.size() > floor(), fail(at), "stack underflow");
        return stack_.back();
    }
    std::vector<Value> pop_mark(std::size_t at) {
        AGCNN_CHECK(!marks_.empty(), fail(at), "no MARK to pop to");
        std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                                 stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    Object& container(const Value& v, ObjectKind kind, const char* op, std::size_t at) {
        AGCNN_CHECK(arena_.is(v, kind), fail(at), op, " on a ", arena_.describe(v));
        return arena_.objects[static_cast<std::size_t>(v.integer)];
    }
    Value make(ObjectKind kind, std::vector<Value> items = {}, std::string text = {}) {
        Object o;
        o.kind = kind;
        o.items = std::move(items);
        o.text = std::move(text);
        return arena_.add(std::move(o));
    }
    Value make_string(std::string_view text) {
        return make(ObjectKind::string, {}, std::string(text));
    }

    void step(unsigned char op, std::size_t at) {
        switch (op) {
            case 0x80: take(1, "PROTO"); break;
            case 'c': {
                const std::string module(take_line("GLOBAL module"));
                const std::string name = module + "." + std::string(take_line("GLOBAL name"));
                AGCNN_CHECK(allowed_global(name), path_, ": refused pickle global '",
                            name.substr(0, 120), "': only the globals of a PyTorch state_dict ",
                            "are allowed");
                push(make(ObjectKind::global, {}, name));
                break;
            }
            case 'R': reduce(at); break;
            case 'b': {  // BUILD: state on an OrderedDict (its _metadata) or a parameter; ignored
                pop(at);
                const Value& inst = top(at);
                AGCNN_CHECK(
                    arena_.is(inst, ObjectKind::dict) || arena_.is(inst, ObjectKind::tensor),
                    fail(at), "BUILD on a ", arena_.describe(inst));
                break;
            }
            case 'Q': persistent(at); break;
            case '(': marks_.push_back(stack_.size()); break;
            case 't': push(make(ObjectKind::tuple, pop_mark(at))); break;
            case 0x85:
            case 0x86:
            case 0x87: {
                const std::size_t n = op - 0x84u;
                AGCNN_CHECK(stack_.size() >= floor() + n, fail(at), "stack underflow");
                std::vector<Value> items(stack_.end() - static_cast<std::ptrdiff_t>(n),
                                         stack_.end());
                stack_.resize(stack_.size() - n);
                push(make(ObjectKind::tuple, std::move(items)));
                break;
            }
            case ')': push(make(ObjectKind::tuple)); break;
            case ']': push(make(ObjectKind::list)); break;
            case '}': push(make(ObjectKind::dict)); break;
            case 'a': {
                const Value item = pop(at);
                container(top(at), ObjectKind::list, "APPEND", at).items.push_back(item);
                break;
            }
            case 'e': {
                std::vector<Value> items = pop_mark(at);
                auto& list = container(top(at), ObjectKind::list, "APPENDS", at).items;
                list.insert(list.end(), items.begin(), items.end());
                break;
            }
            case 's': {
                const Value value = pop(at), key = pop(at);
                set_items(top(at), {key, value}, at);
                break;
            }
            case 'u': {
                std::vector<Value> items = pop_mark(at);
                AGCNN_CHECK(items.size() % 2 == 0, fail(at), "SETITEMS with an odd item count");
                set_items(top(at), items, at);
                break;
            }
            case 'N': push({}); break;
            case 0x88: push({Kind::boolean, 1, 0}); break;
            case 0x89: push({Kind::boolean, 0, 0}); break;
            case 'J': push({Kind::integer, take_le<std::int32_t>("BININT"), 0}); break;
            case 'K': push({Kind::integer, take_le<std::uint8_t>("BININT1"), 0}); break;
            case 'M': push({Kind::integer, take_le<std::uint16_t>("BININT2"), 0}); break;
            case 0x8a: push(long1(take(take_le<std::uint8_t>("LONG1"), "LONG1"))); break;
            case 'G': {
                std::uint64_t bits = 0;
                for (unsigned char c : take(8, "BINFLOAT")) bits = bits << 8 | c;  // big-endian
                double real;
                std::memcpy(&real, &bits, 8);
                push({Kind::real, 0, real});
                break;
            }
            case 'X':
                push(make_string(take(take_le<std::uint32_t>("BINUNICODE"), "BINUNICODE")));
                break;
            case 'U':
                push(
                    make_string(take(take_le<std::uint8_t>("SHORT_BINSTRING"), "SHORT_BINSTRING")));
                break;
            case 'q': memo_[take_le<std::uint8_t>("BINPUT")] = top(at); break;
            case 'r': memo_[take_le<std::uint32_t>("LONG_BINPUT")] = top(at); break;
            case 'h': push(memo(take_le<std::uint8_t>("BINGET"), at)); break;
            case 'j': push(memo(take_le<std::uint32_t>("LONG_BINGET"), at)); break;
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                throw Error(fail(at) + "refused opcode " + hex +
                            ": not one a PyTorch state_dict uses");
            }
        }
    }

    Value memo(std::uint32_t index, std::size_t at) const {
        const auto it = memo_.find(index);
        AGCNN_CHECK(it != memo_.end(), fail(at), "memo slot ", index, " read before written");
        return it->second;
    }

    // LONG1: little-endian two's complement; values beyond int64 are kept as bytes (the legacy
    // format's magic number is one).
    Value long1(std::string_view bytes) {
        if (bytes.size() > 8) return make(ObjectKind::big_integer, {}, std::string(bytes));
        std::uint64_t bits = 0;
        for (std::size_t i = bytes.size(); i-- > 0;)
            bits = bits << 8 | static_cast<unsigned char>(bytes[i]);
        if (!bytes.empty() && bytes.size() < 8 && (static_cast<unsigned char>(bytes.back()) & 0x80))
            bits |= ~std::uint64_t(0) << (8 * bytes.size());  // sign-extend
        return {Kind::integer, static_cast<std::int64_t>(bits), 0};
    }

    // Dict keys must be str or int. Pairs are kept in order, repeats included (the reader of the
    // dict lets the last one win, as Python does), so SETITEMS stays linear.
    void set_items(const Value& target, const std::vector<Value>& items, std::size_t at) {
        auto& dict = container(target, ObjectKind::dict, "SETITEM", at).items;
        for (std::size_t i = 0; i < items.size(); i += 2)
            AGCNN_CHECK(items[i].kind == Kind::integer || arena_.is(items[i], ObjectKind::string),
                        fail(at), "dict key of type ", arena_.describe(items[i]));
        dict.insert(dict.end(), items.begin(), items.end());
    }

    void persistent(std::size_t at) {
        const Value pid = pop(at);
        AGCNN_CHECK(arena_.is(pid, ObjectKind::tuple), fail(at), "persistent id is a ",
                    arena_.describe(pid), ", not a tuple");
        const auto& items = arena_.at(pid).items;
        AGCNN_CHECK(!items.empty() && arena_.is(items[0], ObjectKind::string) &&
                        arena_.at(items[0]).text == "storage",
                    fail(at), "only persistent ids of storages are allowed");
        Object o;
        o.kind = ObjectKind::storage;
        o.storage = load_(arena_, pid);
        push(arena_.add(std::move(o)));
    }

    std::int64_t integer(const Value& v, const char* what, std::size_t at) const {
        AGCNN_CHECK(v.kind == Kind::integer, fail(at), what, " is a ", arena_.describe(v),
                    ", not an int");
        return v.integer;
    }
    std::vector<std::int64_t> int_tuple(const Value& v, const char* what, std::size_t at) const {
        AGCNN_CHECK(arena_.is(v, ObjectKind::tuple), fail(at), what, " is a ", arena_.describe(v),
                    ", not a tuple");
        std::vector<std::int64_t> out;
        for (const Value& item : arena_.at(v).items) out.push_back(integer(item, what, at));
        return out;
    }

    // REDUCE on an allowed global: OrderedDict() -> dict; _rebuild_tensor(_v2)(storage, offset,
    // size, stride, ...) -> tensor view; _rebuild_parameter(tensor, requires_grad, hooks) ->
    // tensor.
    void reduce(std::size_t at) {
        const Value args_value = pop(at);
        const Value function = pop(at);
        AGCNN_CHECK(arena_.is(function, ObjectKind::global), fail(at), "REDUCE calls a ",
                    arena_.describe(function));
        AGCNN_CHECK(arena_.is(args_value, ObjectKind::tuple), fail(at), "REDUCE arguments are a ",
                    arena_.describe(args_value));
        const std::string& name = arena_.at(function).text;
        const std::vector<Value> args = arena_.at(args_value).items;
        if (name == "collections.OrderedDict") {
            AGCNN_CHECK(args.empty(), fail(at), "OrderedDict with arguments");
            push(make(ObjectKind::dict));
        } else if (name == "torch._utils._rebuild_parameter") {
            AGCNN_CHECK(args.size() == 3 && arena_.is(args[0], ObjectKind::tensor), fail(at),
                        "_rebuild_parameter expects (tensor, requires_grad, hooks)");
            push(args[0]);
        } else if (name == "torch._utils._rebuild_tensor" ||
                   name == "torch._utils._rebuild_tensor_v2") {
            const std::size_t expected = name.back() == '2' ? 6 : 4;
            AGCNN_CHECK(args.size() == expected || (expected == 6 && args.size() == 7), fail(at),
                        name, " with ", args.size(), " arguments");
            AGCNN_CHECK(arena_.is(args[0], ObjectKind::storage), fail(at), name,
                        " expects a storage, got ", arena_.describe(args[0]));
            Object o;
            o.kind = ObjectKind::tensor;
            o.tensor.storage = static_cast<std::size_t>(args[0].integer);
            o.tensor.offset = integer(args[1], "storage offset", at);
            o.tensor.size = int_tuple(args[2], "tensor size", at);
            o.tensor.stride = int_tuple(args[3], "tensor stride", at);
            AGCNN_CHECK(o.tensor.size.size() == o.tensor.stride.size(), fail(at),
                        "tensor size and stride differ in length");
            push(arena_.add(std::move(o)));
        } else {
            throw Error(fail(at) + "REDUCE on '" + name + "', which is not callable here");
        }
    }

    std::string_view in_;
    const PersistentLoad& load_;
    const std::string& path_;
    std::size_t pos_ = 0;
    Arena arena_;
    std::vector<Value> stack_;
    std::vector<std::size_t> marks_;  // stack heights at each open MARK
    std::map<std::uint32_t, Value> memo_;
};

}  // namespace detail

// Runs the pickle in `bytes`; see the contract at the top of this file.
inline Result unpickle(std::string_view bytes, const PersistentLoad& persistent_load,
                       const std::string& path) {
    return detail::Machine(bytes, persistent_load, path).run();
}

}  // namespace agcnn::io::pickle
