// NBD wire format (doc/proto.md of the NBD project): constants, the fixed
// headers of every message, and bounds-checked encode/decode helpers.
//
// Nothing here does I/O.  Everything that arrives from the network goes
// through NbdCursor, whose getters fail (return false) instead of reading past
// the end of the buffer, so a parser can never overflow on hostile input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// ---- magics -----------------------------------------------------------------
constexpr uint64_t NBD_INIT_MAGIC = 0x4e42444d41474943ULL;    // "NBDMAGIC"
constexpr uint64_t NBD_OPTS_MAGIC = 0x49484156454F5054ULL;    // "IHAVEOPT"
constexpr uint64_t NBD_CLIENT_MAGIC = 0x0000420281861253ULL;  // oldstyle
constexpr uint64_t NBD_REP_MAGIC = 0x0003e889045565a9ULL;     // option reply
constexpr uint32_t NBD_REQUEST_MAGIC = 0x25609513;
constexpr uint32_t NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
constexpr uint32_t NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// ---- handshake flags --------------------------------------------------------
constexpr uint16_t NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
constexpr uint16_t NBD_FLAG_NO_ZEROES = 1 << 1;
constexpr uint32_t NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
constexpr uint32_t NBD_FLAG_C_NO_ZEROES = 1 << 1;

// ---- transmission flags -----------------------------------------------------
constexpr uint16_t NBD_FLAG_HAS_FLAGS = 1 << 0;
constexpr uint16_t NBD_FLAG_READ_ONLY = 1 << 1;
constexpr uint16_t NBD_FLAG_SEND_FLUSH = 1 << 2;
constexpr uint16_t NBD_FLAG_SEND_FUA = 1 << 3;
constexpr uint16_t NBD_FLAG_ROTATIONAL = 1 << 4;
constexpr uint16_t NBD_FLAG_SEND_TRIM = 1 << 5;
constexpr uint16_t NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
constexpr uint16_t NBD_FLAG_SEND_DF = 1 << 7;
constexpr uint16_t NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
constexpr uint16_t NBD_FLAG_SEND_RESIZE = 1 << 9;
constexpr uint16_t NBD_FLAG_SEND_CACHE = 1 << 10;
constexpr uint16_t NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

// ---- options ----------------------------------------------------------------
enum : uint32_t {
    NBD_OPT_EXPORT_NAME = 1,
    NBD_OPT_ABORT = 2,
    NBD_OPT_LIST = 3,
    NBD_OPT_PEEK_EXPORT = 4,
    NBD_OPT_STARTTLS = 5,
    NBD_OPT_INFO = 6,
    NBD_OPT_GO = 7,
    NBD_OPT_STRUCTURED_REPLY = 8,
    NBD_OPT_LIST_META_CONTEXT = 9,
    NBD_OPT_SET_META_CONTEXT = 10,
};

constexpr uint32_t NBD_REP_ERR_FLAG = 1u << 31;
enum : uint32_t {
    NBD_REP_ACK = 1,
    NBD_REP_SERVER = 2,
    NBD_REP_INFO = 3,
    NBD_REP_META_CONTEXT = 4,
    NBD_REP_ERR_UNSUP = NBD_REP_ERR_FLAG | 1,
    NBD_REP_ERR_POLICY = NBD_REP_ERR_FLAG | 2,
    NBD_REP_ERR_INVALID = NBD_REP_ERR_FLAG | 3,
    NBD_REP_ERR_PLATFORM = NBD_REP_ERR_FLAG | 4,
    NBD_REP_ERR_TLS_REQD = NBD_REP_ERR_FLAG | 5,
    NBD_REP_ERR_UNKNOWN = NBD_REP_ERR_FLAG | 6,
    NBD_REP_ERR_SHUTDOWN = NBD_REP_ERR_FLAG | 7,
    NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_ERR_FLAG | 8,
    NBD_REP_ERR_TOO_BIG = NBD_REP_ERR_FLAG | 9,
};

enum : uint16_t {
    NBD_INFO_EXPORT = 0,
    NBD_INFO_NAME = 1,
    NBD_INFO_DESCRIPTION = 2,
    NBD_INFO_BLOCK_SIZE = 3,
};

// ---- commands ---------------------------------------------------------------
enum : uint16_t {
    NBD_CMD_READ = 0,
    NBD_CMD_WRITE = 1,
    NBD_CMD_DISC = 2,
    NBD_CMD_FLUSH = 3,
    NBD_CMD_TRIM = 4,
    NBD_CMD_CACHE = 5,
    NBD_CMD_WRITE_ZEROES = 6,
    NBD_CMD_BLOCK_STATUS = 7,
};

enum : uint16_t {
    NBD_CMD_FLAG_FUA = 1 << 0,
    NBD_CMD_FLAG_NO_HOLE = 1 << 1,
    NBD_CMD_FLAG_DF = 1 << 2,
    NBD_CMD_FLAG_REQ_ONE = 1 << 3,
    NBD_CMD_FLAG_FAST_ZERO = 1 << 4,
};

// ---- structured replies -----------------------------------------------------
constexpr uint16_t NBD_REPLY_FLAG_DONE = 1 << 0;
constexpr uint16_t NBD_REPLY_TYPE_ERR_FLAG = 1 << 15;
enum : uint16_t {
    NBD_REPLY_TYPE_NONE = 0,
    NBD_REPLY_TYPE_OFFSET_DATA = 1,
    NBD_REPLY_TYPE_OFFSET_HOLE = 2,
    NBD_REPLY_TYPE_BLOCK_STATUS = 5,
    NBD_REPLY_TYPE_ERROR = NBD_REPLY_TYPE_ERR_FLAG | 1,
    NBD_REPLY_TYPE_ERROR_OFFSET = NBD_REPLY_TYPE_ERR_FLAG | 2,
};

// base:allocation extent flags.
constexpr uint32_t NBD_STATE_HOLE = 1 << 0;
constexpr uint32_t NBD_STATE_ZERO = 1 << 1;
constexpr const char *NBD_META_BASE_ALLOCATION = "base:allocation";

// ---- error codes on the wire ------------------------------------------------
enum : uint32_t {
    NBD_SUCCESS = 0,
    NBD_EPERM = 1,
    NBD_EIO = 5,
    NBD_ENOMEM = 12,
    NBD_EINVAL = 22,
    NBD_ENOSPC = 28,
    NBD_EOVERFLOW = 75,
    NBD_ENOTSUP = 95,
    NBD_ESHUTDOWN = 108,
};
// Maps a (positive) errno to its wire value (EIO for anything unlisted) and
// back (EINVAL for unknown wire values, as the spec recommends).
uint32_t nbd_errno_to_wire(int err);
int nbd_wire_to_errno(uint32_t wire);

// ---- sizes and limits -------------------------------------------------------
constexpr size_t NBD_REQUEST_SIZE = 28;
constexpr size_t NBD_SIMPLE_REPLY_SIZE = 16;
constexpr size_t NBD_STRUCTURED_REPLY_SIZE = 20;
constexpr size_t NBD_OPT_HEADER_SIZE = 16;
constexpr size_t NBD_OPT_REPLY_HEADER_SIZE = 20;
constexpr uint32_t NBD_MAX_STRING = 4096;              // names, messages
constexpr uint32_t NBD_MAX_BUFFER = 32 * 1024 * 1024;  // largest read/write payload
constexpr uint32_t NBD_MAX_OPTION = 64 * 1024;         // option payloads we accept
constexpr uint32_t NBD_DEFAULT_PORT = 10809;

// ---- byte buffers -----------------------------------------------------------
// Big-endian writer into a growable buffer.
struct NbdBuf {
    std::vector<uint8_t> data;
    void put_u8(uint8_t v) { data.push_back(v); }
    void put_u16(uint16_t v);
    void put_u32(uint32_t v);
    void put_u64(uint64_t v);
    void put_bytes(const void *p, size_t n);
    void put_string(const std::string &s) { put_bytes(s.data(), s.size()); }
    size_t size() const { return data.size(); }
};

// Big-endian reader over a borrowed buffer; every getter checks the length.
struct NbdCursor {
    const uint8_t *p;
    size_t left;
    NbdCursor(const void *buf, size_t len) : p((const uint8_t *)buf), left(len) {}
    bool get_u16(uint16_t *v);
    bool get_u32(uint32_t *v);
    bool get_u64(uint64_t *v);
    bool get_bytes(void *out, size_t n);
    // A string of @len bytes; fails if longer than @max or than what is left.
    bool get_string(size_t len, size_t max, std::string *out);
    bool advance(size_t n);
};

// ---- fixed message headers --------------------------------------------------
struct NbdRequest {
    uint16_t flags = 0;
    uint16_t type = 0;
    uint64_t cookie = 0;
    uint64_t offset = 0;
    uint32_t len = 0;
};
void nbd_request_encode(const NbdRequest &r, uint8_t out[NBD_REQUEST_SIZE]);
// Returns false on a bad magic.
bool nbd_request_decode(const uint8_t in[NBD_REQUEST_SIZE], NbdRequest *r);

// A reply header: simple (16 bytes) or structured chunk (20 bytes).  The
// first 4 bytes (magic) say which; read those, then the rest.
struct NbdReply {
    bool structured = false;
    uint32_t error = 0;  // simple: wire error
    uint16_t flags = 0;  // structured
    uint16_t type = 0;   // structured
    uint64_t cookie = 0;
    uint32_t length = 0;  // structured: payload length
};
// Size of the header the 4-byte @magic introduces, or 0 for a bad magic.
size_t nbd_reply_header_size(uint32_t magic);
void nbd_simple_reply_encode(uint64_t cookie, uint32_t error, uint8_t out[NBD_SIMPLE_REPLY_SIZE]);
void nbd_structured_reply_encode(uint64_t cookie, uint16_t flags, uint16_t type, uint32_t length,
                                 uint8_t out[NBD_STRUCTURED_REPLY_SIZE]);
// Decodes a full header of @len bytes (16 or 20).  False on bad magic/size.
bool nbd_reply_decode(const uint8_t *in, size_t len, NbdReply *r);

// Validates a structured chunk header against the request it answers:
// payload lengths the type implies, and DONE on NONE.  Returns 0 or -EIO.
// @is_read / @is_block_status: what the request was.
int nbd_chunk_check(const NbdReply &r, bool is_read, bool is_block_status);
// True if [off, off+len) lies inside [req_off, req_off+req_len).
bool nbd_range_inside(uint64_t off, uint64_t len, uint64_t req_off, uint64_t req_len);

// Error chunk payload (NBD_REPLY_TYPE_ERROR[_OFFSET]).
struct NbdErrorChunk {
    uint32_t error = 0;
    std::string message;
    bool has_offset = false;
    uint64_t offset = 0;
};
bool nbd_error_chunk_decode(const uint8_t *p, size_t len, bool with_offset, NbdErrorChunk *out);

// Option header (client -> server) and option reply header.
struct NbdOption {
    uint32_t option = 0;
    uint32_t length = 0;
};
void nbd_option_encode(uint32_t option, uint32_t length, NbdBuf *out);
bool nbd_option_decode(const uint8_t in[NBD_OPT_HEADER_SIZE], NbdOption *o);
struct NbdOptReply {
    uint32_t option = 0;
    uint32_t type = 0;
    uint32_t length = 0;
};
void nbd_opt_reply_encode(uint32_t option, uint32_t type, uint32_t length, NbdBuf *out);
bool nbd_opt_reply_decode(const uint8_t in[NBD_OPT_REPLY_HEADER_SIZE], NbdOptReply *r);

// NBD_OPT_INFO/GO request payload: export name plus requested info types.
struct NbdInfoRequest {
    std::string name;
    std::vector<uint16_t> infos;
};
void nbd_info_request_encode(const NbdInfoRequest &q, NbdBuf *out);
bool nbd_info_request_decode(const uint8_t *p, size_t len, NbdInfoRequest *q);

// NBD_OPT_{LIST,SET}_META_CONTEXT payload.
struct NbdMetaRequest {
    std::string export_name;
    std::vector<std::string> queries;
};
void nbd_meta_request_encode(const NbdMetaRequest &q, NbdBuf *out);
bool nbd_meta_request_decode(const uint8_t *p, size_t len, NbdMetaRequest *q);

// What the handshake learns about an export.
struct NbdExportInfo {
    uint64_t size = 0;
    uint16_t flags = 0;  // transmission flags
    uint32_t min_block = 1;
    uint32_t opt_block = 4096;
    uint32_t max_block = NBD_MAX_BUFFER;
    std::string name;
    std::string description;
    bool structured = false;
    bool base_allocation = false;  // the meta context below was granted
    uint32_t meta_context_id = 0;
    // The meta context to ask for: "" for base:allocation (client input).
    std::string meta_context;
};
// Decodes one NBD_REP_INFO payload into @info.  Unknown info types are
// ignored (forward compatibility); known ones with a wrong length fail.
bool nbd_info_reply_decode(const uint8_t *p, size_t len, NbdExportInfo *info);
// Checks block size constraints the spec mandates (powers of two, ordering).
bool nbd_block_sizes_valid(const NbdExportInfo &info);

const char *nbd_cmd_name(uint16_t cmd);
const char *nbd_opt_name(uint32_t opt);
const char *nbd_rep_name(uint32_t rep);
