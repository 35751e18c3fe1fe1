// agcnn/core/cuda_module.hpp — the CUDA backend as a module loaded on first use.
//
// In a build with the CUDA backend (core/build.hpp) the kernels are not linked into the programs:
// they are the shared module libagcnn_cuda.so (kernels/, kernels/CMakeLists.txt), the only file
// that links the CUDA runtime, cuBLAS, cuDNN and NCCL. The engine opens it with dlopen the first
// time a program touches a CUDA device or asks how many there are (cuda::device_count()), so a
// run on the CPU never loads those libraries (they cost about 0.5 s of CPU at every start) and a
// CUDA-built program starts on a machine that has none of them.
//
// The module's functions are listed once, in X-macro lists (core/cuda_memory_functions.inc,
// backend/cuda_functions.inc, backend/cuda_nccl_functions.inc): each entry
//   AGCNN_CUDA_FUNCTION(return type, name, (parameters), (arguments))
// (or AGCNN_CUDA_QUERY(..., value without the module) for a question such as device_count that
// has an answer when the module is absent)
// generates (a) a field of a table of function pointers (AGCNN_CUDA_TABLE_FIELD), which the
// module fills and exports under one extern "C" symbol per list (kernels/module.cpp), and (b) in
// the engine, an inline function agcnn::cuda::name that calls through the table
// (AGCNN_CUDA_FORWARD), so the layers above call cuda::relu_forward(...) as before. Inside the
// module (AGCNN_CUDA_MODULE_BUILD, set by kernels/CMakeLists.txt only) the same entry is a plain
// declaration of the function the module defines. This is the one place that reads that macro.
//
// Where the module is looked for, in order (the first that loads wins):
//   1. $AGCNN_CUDA_MODULE, when set: that file only;
//   2. the folder of the file that holds the engine's code: the executable (agcnn, a test), or
//      the shared library the engine is compiled into (the C API's libagcnn_c.so);
//   3. that folder's ../lib (an installed tree: bin/agcnn, lib/libagcnn_cuda.so);
//   4. the dynamic linker's library path (LD_LIBRARY_PATH, the program's RUNPATH, which names the
//      build folder for every program of a build tree, ld.so.cache, /lib, /usr/lib).
// When none loads, cuda::device_count() is 0 (it never throws) and every other CUDA function
// throws one line naming each file tried and dlerror()'s reason (require_module()).
#pragma once

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "agcnn/core/error.hpp"

namespace agcnn::cuda {

inline constexpr const char* kModuleFileName = "libagcnn_cuda.so";
// Checked against the table the module exports; change it whenever a list changes, so an engine
// never calls a module built from other lists.
inline constexpr std::uint32_t kModuleAbiVersion = 1;

// Every exported table starts with this header.
struct ModuleTableHeader {
    std::uint32_t abi_version;
    std::uint32_t table_bytes;  // sizeof the whole table
};

namespace detail {

// The folder of the file (executable or shared library) that holds this code; "" if unknown.
inline std::string engine_folder() {
    Dl_info info{};
    link_map* map = nullptr;
    if (dladdr1(reinterpret_cast<void*>(&engine_folder), &info, reinterpret_cast<void**>(&map),
                RTLD_DL_LINKMAP) == 0)
        return {};
    std::string file = map != nullptr && map->l_name != nullptr ? map->l_name : "";
    if (file.empty()) {  // the main program has no name in its link map
        char buffer[PATH_MAX];
        const ssize_t length = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
        if (length <= 0) return {};
        file.assign(buffer, static_cast<std::size_t>(length));
    }
    const std::size_t slash = file.rfind('/');
    return slash == std::string::npos ? "." : file.substr(0, slash);
}

struct LoadedModule {
    void* handle = nullptr;
    std::string error;  // why it is not loaded: one line
};

inline const LoadedModule& loaded_module() {
    static const LoadedModule module = [] {
        std::string candidates[3];
        int count = 0;
        if (const char* chosen = std::getenv("AGCNN_CUDA_MODULE"); chosen != nullptr && *chosen) {
            candidates[count++] = chosen;
        } else {
            const std::string folder = engine_folder();
            if (!folder.empty()) {
                candidates[count++] = folder + "/" + kModuleFileName;
                candidates[count++] = folder + "/../lib/" + kModuleFileName;
            }
            candidates[count++] = kModuleFileName;
        }
        LoadedModule result;
        std::string reasons;
        for (int i = 0; i < count; ++i) {
            result.handle = dlopen(candidates[i].c_str(), RTLD_NOW | RTLD_LOCAL);
            if (result.handle != nullptr) return result;
            // dlerror() starts with the file name when it could not open that file itself.
            const char* error = dlerror();
            std::string reason = error != nullptr ? error : "unknown error";
            if (reason.rfind(candidates[i] + ": ", 0) == 0)
                reason.erase(0, candidates[i].size() + 2);
            reasons += ::agcnn::detail::concat(
                reasons.empty() ? "" : "; ", candidates[i],
                candidates[i] == kModuleFileName ? " (library path)" : "", ": ", reason);
        }
        result.error = "cannot load the CUDA backend module " + std::string(kModuleFileName) +
                       " (set AGCNN_CUDA_MODULE to its path): " + reasons;
        return result;
    }();
    return module;
}

}  // namespace detail

// Whether the module is (or can now be) loaded; loads it on the first call, never throws.
inline bool module_loaded() { return detail::loaded_module().handle != nullptr; }

// Throws the reason the module cannot be loaded, naming every file tried.
inline void require_module() {
    if (!module_loaded()) throw Error(detail::loaded_module().error);
}

// The table the module exports as `symbol`, checked against this engine's lists.
template <class Table>
const Table& module_table(const char* symbol) {
    static const Table* table = [symbol] {
        require_module();
        const void* address = dlsym(detail::loaded_module().handle, symbol);
        AGCNN_CHECK(address != nullptr, "the CUDA backend module ", kModuleFileName,
                    " has no table ", symbol, " (built from other sources than this program?)");
        const auto* found = static_cast<const Table*>(address);
        AGCNN_CHECK(found->header.abi_version == kModuleAbiVersion &&
                        found->header.table_bytes == sizeof(Table),
                    "the CUDA backend module ", kModuleFileName, " was built from other sources "
                    "than this program (table ", symbol, ": version ", found->header.abi_version,
                    ", ", found->header.table_bytes, " bytes; expected ", kModuleAbiVersion, ", ",
                    sizeof(Table), ")");
        return found;
    }();
    return *table;
}

}  // namespace agcnn::cuda

// A field of a table: a pointer to the listed function.
#define AGCNN_CUDA_TABLE_FIELD(return_type, name, parameters, arguments) \
    return_type(*name) parameters;

#ifdef AGCNN_CUDA_MODULE_BUILD
// Inside the module: the declaration of the function the module defines.
#define AGCNN_CUDA_FORWARD(Table, symbol, return_type, name, parameters, arguments) \
    return_type name parameters;
#define AGCNN_CUDA_FORWARD_QUERY(Table, symbol, return_type, name, parameters, arguments, \
                                 without_module)                                        \
    return_type name parameters;
#else
// In the engine: a call through the module's table.
#define AGCNN_CUDA_FORWARD(Table, symbol, return_type, name, parameters, arguments) \
    inline return_type name parameters {                                          \
        return ::agcnn::cuda::module_table<Table>(symbol).name arguments;         \
    }
// In the engine, for a question with an answer without the module (device_count: 0): that answer
// when the module cannot be loaded, instead of an error.
#define AGCNN_CUDA_FORWARD_QUERY(Table, symbol, return_type, name, parameters, arguments, \
                                 without_module)                                        \
    inline return_type name parameters {                                                \
        if (!::agcnn::cuda::module_loaded()) return without_module;                     \
        return ::agcnn::cuda::module_table<Table>(symbol).name arguments;               \
    }
#endif
