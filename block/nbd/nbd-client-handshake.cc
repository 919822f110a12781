// NBD client handshake: fixed newstyle with STRUCTURED_REPLY,
// SET_META_CONTEXT base:allocation and OPT_GO; NBD_OPT_EXPORT_NAME for
// servers that predate OPT_GO; the oldstyle handshake (no options, no
// export names) as QEMU's client accepts it.
#include <cerrno>
#include <cinttypes>

#include "block/nbd/nbd-client-int.h"
#include "block/nbd/nbd-client-list.h"
#include "block/nbd/nbd-tls-int.h"

namespace {

struct Haggle {
    NbdChannel *ch;
    Error **errp;
};

int coroutine_fn send_option(Haggle *h, uint32_t opt, const NbdBuf *payload)
{
    NbdBuf b;
    nbd_option_encode(opt, payload ? uint32_t(payload->size()) : 0, &b);
    if (payload) b.put_bytes(payload->data.data(), payload->size());
    int ret = nbd_channel_write(h->ch, b.data.data(), b.size());
    if (ret < 0) error_setg(h->errp, "Failed to send option request %s", nbd_opt_name(opt));
    return ret;
}

// Reads one option reply, bounded; its payload lands in @data.
int coroutine_fn read_reply(Haggle *h, uint32_t opt, NbdOptReply *r, std::vector<uint8_t> *data)
{
    uint8_t hdr[NBD_OPT_REPLY_HEADER_SIZE];
    if (nbd_channel_read(h->ch, hdr, sizeof(hdr)) < 0) {
        error_setg(h->errp, "Failed to read option reply: server closed the connection");
        return -EIO;
    }
    if (!nbd_opt_reply_decode(hdr, r)) {
        error_setg(h->errp, "Unexpected option reply magic");
        return -EIO;
    }
    if (r->option != opt) {
        error_setg(h->errp, "Unexpected option type %u (%s), expected %u (%s)", r->option,
                   nbd_opt_name(r->option), opt, nbd_opt_name(opt));
        return -EIO;
    }
    if (r->length > NBD_MAX_OPTION) {
        error_setg(h->errp, "server's reply to %s is too long (%u bytes)", nbd_opt_name(opt),
                   r->length);
        return -EIO;
    }
    data->resize(r->length);
    if (r->length && nbd_channel_read(h->ch, data->data(), r->length) < 0) {
        error_setg(h->errp, "Failed to read option reply payload");
        return -EIO;
    }
    return 0;
}

std::string server_message(const std::vector<uint8_t> &d)
{
    return std::string((const char *)d.data(),
                       d.size() > NBD_MAX_STRING ? NBD_MAX_STRING : d.size());
}

// 1: acked; 0: refused (an error reply); <0: connection unusable.
int coroutine_fn negotiate_structured(Haggle *h)
{
    NbdOptReply r;
    std::vector<uint8_t> d;
    if (send_option(h, NBD_OPT_STRUCTURED_REPLY, nullptr) < 0 ||
        read_reply(h, NBD_OPT_STRUCTURED_REPLY, &r, &d) < 0) {
        return -EIO;
    }
    return r.type == NBD_REP_ACK ? 1 : 0;
}

int coroutine_fn negotiate_meta(Haggle *h, const std::string &name, NbdExportInfo *info)
{
    const std::string want =
        info->meta_context.empty() ? std::string(NBD_META_BASE_ALLOCATION) : info->meta_context;
    NbdMetaRequest q{name, {want}};
    NbdBuf p;
    nbd_meta_request_encode(q, &p);
    if (send_option(h, NBD_OPT_SET_META_CONTEXT, &p) < 0) return -EIO;
    for (;;) {
        NbdOptReply r;
        std::vector<uint8_t> d;
        if (read_reply(h, NBD_OPT_SET_META_CONTEXT, &r, &d) < 0) return -EIO;
        if (r.type != NBD_REP_META_CONTEXT) return 0;  // ACK or error: done
        NbdCursor c(d.data(), d.size());
        uint32_t id;
        std::string ctx;
        if (!c.get_u32(&id) || !c.get_string(c.left, NBD_MAX_STRING, &ctx)) {
            error_setg(h->errp, "Malformed meta context reply");
            return -EIO;
        }
        if (ctx != want || info->base_allocation) {
            error_setg(h->errp, "Unexpected meta context '%s'", ctx.c_str());
            return -EIO;
        }
        info->base_allocation = true;
        info->meta_context_id = id;
    }
}

// 1: negotiated; 0: server lacks OPT_GO (fall back); <0: failure.
int coroutine_fn negotiate_go(Haggle *h, const std::string &name, NbdExportInfo *info)
{
    NbdInfoRequest q{name, {NBD_INFO_BLOCK_SIZE}};
    NbdBuf p;
    nbd_info_request_encode(q, &p);
    if (send_option(h, NBD_OPT_GO, &p) < 0) return -EIO;
    bool got_export = false;
    for (;;) {
        NbdOptReply r;
        std::vector<uint8_t> d;
        if (read_reply(h, NBD_OPT_GO, &r, &d) < 0) return -EIO;
        if (r.type == NBD_REP_INFO) {
            NbdCursor c(d.data(), d.size());
            uint16_t t = 0;
            c.get_u16(&t);
            got_export |= t == NBD_INFO_EXPORT;
            if (!nbd_info_reply_decode(d.data(), d.size(), info)) {
                error_setg(h->errp, "Malformed info reply of type %u", t);
                return -EIO;
            }
            continue;
        }
        if (r.type == NBD_REP_ACK) {
            if (!got_export) {
                error_setg(h->errp, "broken server omitted NBD_INFO_EXPORT");
                return -EIO;
            }
            if (!nbd_block_sizes_valid(*info)) {
                error_setg(h->errp, "server sent invalid block sizes %u/%u/%u", info->min_block,
                           info->opt_block, info->max_block);
                return -EIO;
            }
            return 1;
        }
        if (r.type == NBD_REP_ERR_UNSUP) return 0;
        if (r.type == NBD_REP_ERR_TLS_REQD) {
            error_setg(h->errp,
                       "TLS negotiation required before option %u (go)\n"
                       "Did you forget a valid tls-creds?\nserver reported: %s",
                       NBD_OPT_GO, server_message(d).c_str());
            return -EINVAL;
        }
        if (r.type & NBD_REP_ERR_FLAG) {
            error_setg(h->errp, "Requested export not available\nserver reported: %s",
                       server_message(d).c_str());
            return -EINVAL;
        }
        error_setg(h->errp, "Unexpected reply type %u to NBD_OPT_GO", r.type);
        return -EIO;
    }
}

int coroutine_fn negotiate_export_name(Haggle *h, const std::string &name, bool no_zeroes,
                                       NbdExportInfo *info)
{
    NbdBuf p;
    p.put_string(name);
    if (send_option(h, NBD_OPT_EXPORT_NAME, &p) < 0) return -EIO;
    uint8_t buf[10 + 124];
    size_t len = no_zeroes ? 10 : sizeof(buf);
    if (nbd_channel_read(h->ch, buf, len) < 0) {
        error_setg(h->errp, "Failed to read export length: server refused export '%s'",
                   name.c_str());
        return -EIO;
    }
    NbdCursor c(buf, 10);
    c.get_u64(&info->size);
    c.get_u16(&info->flags);
    return 0;  // structured replies, if acked, stay in force (spec)
}

// STARTTLS and the TLS handshake, with QEMU's messages for a refusal.
int coroutine_fn negotiate_starttls(Haggle *h, const NbdClientTls &tls)
{
    NbdOptReply r;
    std::vector<uint8_t> d;
    if (send_option(h, NBD_OPT_STARTTLS, nullptr) < 0 ||
        read_reply(h, NBD_OPT_STARTTLS, &r, &d) < 0) {
        return -EIO;
    }
    if (r.type == NBD_REP_ERR_UNSUP) {
        error_setg(h->errp, "Server don't support STARTTLS option");
        return -EINVAL;
    }
    if (r.type == NBD_REP_ERR_POLICY) {
        error_setg(h->errp, "Denied by server for option %u (starttls)%s%s", NBD_OPT_STARTTLS,
                   d.empty() ? "" : "\nserver reported: ", server_message(d).c_str());
        return -EINVAL;
    }
    if (r.type == NBD_REP_ACK && !d.empty()) {
        error_setg(h->errp, "Option %u ('starttls') response length is %zu (it should be zero)",
                   NBD_OPT_STARTTLS, d.size());
        return -EINVAL;
    }
    if (r.type != NBD_REP_ACK) {
        error_setg(h->errp, "Server rejected request to start TLS %x", r.type);
        return -EINVAL;
    }
    return nbd_channel_starttls(h->ch, tls.creds, tls.hostname, nullptr, TlsEndpoint::Client,
                                h->errp);
}

uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

constexpr const char *EOF_MSG = "Unexpected end-of-file before all data were read";

// Answers the newstyle greeting: the client flags echo what the server
// offered (fixed newstyle, no zeroes).  Shared by export and list handshakes.
int coroutine_fn send_client_flags(NbdChannel *ch, uint16_t gflags, Error **errp)
{
    bool fixed = gflags & NBD_FLAG_FIXED_NEWSTYLE;
    bool no_zeroes = gflags & NBD_FLAG_NO_ZEROES;
    uint8_t cflags[4] = {
        0, 0, 0,
        uint8_t((fixed ? NBD_FLAG_C_FIXED_NEWSTYLE : 0) | (no_zeroes ? NBD_FLAG_C_NO_ZEROES : 0))};
    if (nbd_channel_write(ch, cflags, 4) < 0) {
        error_setg(errp, "Failed to send client flags");
        return -EIO;
    }
    return 0;
}

// 1: the server speaks the oldstyle handshake; 0: (fixed) newstyle, with
// its global flags in @gflags; <0: failure.
int coroutine_fn read_greeting(Haggle *h, bool tls, uint16_t *gflags)
{
    uint8_t buf[8];
    if (nbd_channel_read(h->ch, buf, 8) < 0) {
        error_setg(h->errp, "Failed to read initial magic: %s", EOF_MSG);
        return -EIO;
    }
    uint64_t m1 = get_be(buf, 8);
    if (m1 != NBD_INIT_MAGIC) {
        error_setg(h->errp, "Bad initial magic received: 0x%" PRIx64, m1);
        return -EINVAL;
    }
    if (nbd_channel_read(h->ch, buf, 8) < 0) {
        error_setg(h->errp, "Failed to read server magic: %s", EOF_MSG);
        return -EIO;
    }
    uint64_t m2 = get_be(buf, 8);
    if (m2 == NBD_CLIENT_MAGIC) {
        if (tls) {
            error_setg(h->errp, "Server does not support STARTTLS");
            return -EINVAL;
        }
        return 1;
    }
    if (m2 != NBD_OPTS_MAGIC) {
        error_setg(h->errp, "Bad server magic received: 0x%" PRIx64, m2);
        return -EINVAL;
    }
    if (nbd_channel_read(h->ch, buf, 2) < 0) {
        error_setg(h->errp, "Failed to read server flags: %s", EOF_MSG);
        return -EIO;
    }
    *gflags = uint16_t(buf[0] << 8 | buf[1]);
    return 0;
}

// The rest of an oldstyle greeting: size, 32-bit flags and 124 reserved
// bytes.  The oldstyle protocol has no export names and no options.
int coroutine_fn negotiate_oldstyle(Haggle *h, const std::string &name, NbdExportInfo *info)
{
    if (!name.empty()) {
        error_setg(h->errp, "Server does not support non-empty export names");
        return -EINVAL;
    }
    uint8_t buf[124];
    if (nbd_channel_read(h->ch, buf, 8) < 0) {
        error_setg(h->errp, "Failed to read export length: %s", EOF_MSG);
        return -EINVAL;
    }
    info->size = get_be(buf, 8);
    if (nbd_channel_read(h->ch, buf, 4) < 0) {
        error_setg(h->errp, "Failed to read export flags: %s", EOF_MSG);
        return -EINVAL;
    }
    uint32_t oldflags = uint32_t(get_be(buf, 4));
    if (oldflags & ~0xffffu) {
        // QEMU's message, its stray 'x' included.
        error_setg(h->errp, "Unexpected export flags %0xx", oldflags);
        return -EINVAL;
    }
    info->flags = uint16_t(oldflags);
    if (nbd_channel_read(h->ch, buf, sizeof(buf)) < 0) {
        error_setg(h->errp, "Failed to read reserved block: %s", EOF_MSG);
        return -EINVAL;
    }
    return 0;
}

}  // namespace

int coroutine_fn nbd_client_handshake(NbdChannel *ch, const std::string &export_name,
                                      NbdExportInfo *info, Error **errp, const NbdClientTls *tls)
{
    Haggle h{ch, errp};
    uint16_t gflags = 0;
    std::string meta_context = info->meta_context;
    *info = NbdExportInfo();
    info->name = export_name;
    info->meta_context = meta_context;
    int ret = read_greeting(&h, tls && tls->creds, &gflags);
    if (ret < 0) return ret;
    if (ret == 1) return negotiate_oldstyle(&h, export_name, info);
    bool fixed = gflags & NBD_FLAG_FIXED_NEWSTYLE;
    if (send_client_flags(ch, gflags, errp) < 0) return -EIO;
    if (tls && tls->creds) {
        if (!fixed) {
            error_setg(errp, "Server does not support STARTTLS");
            return -EINVAL;
        }
        ret = negotiate_starttls(&h, *tls);
        if (ret < 0) return ret;
    }
    if (fixed) {
        ret = negotiate_structured(&h);
        if (ret < 0) return ret;
        info->structured = ret == 1;
        if (info->structured && negotiate_meta(&h, export_name, info) < 0) return -EIO;
        ret = negotiate_go(&h, export_name, info);
        if (ret < 0) return ret;
        if (ret == 1) return 0;
    }
    return negotiate_export_name(&h, export_name, gflags & NBD_FLAG_NO_ZEROES, info);
}

// ---- listing exports ------------------------------------------------------------
namespace {

// NBD_OPT_LIST: one NBD_REP_SERVER per export (name length, name,
// description), then ACK.
int coroutine_fn list_names(Haggle *h, std::vector<NbdExportListing> *out)
{
    if (send_option(h, NBD_OPT_LIST, nullptr) < 0) return -EIO;
    for (;;) {
        NbdOptReply r;
        std::vector<uint8_t> d;
        if (read_reply(h, NBD_OPT_LIST, &r, &d) < 0) return -EIO;
        if (r.type == NBD_REP_ACK || r.type == NBD_REP_ERR_UNSUP) return 0;
        if (r.type == NBD_REP_ERR_TLS_REQD) {
            error_setg(h->errp,
                       "TLS negotiation required before option %u (list)\n"
                       "Did you forget a valid tls-creds?%s%s",
                       NBD_OPT_LIST,
                       d.empty() ? "" : "\nserver reported: ", server_message(d).c_str());
            return -EINVAL;
        }
        if (r.type != NBD_REP_SERVER) {
            error_setg(h->errp, "Unexpected reply type %u (%s), expected %u (%s)", r.type,
                       nbd_rep_name(r.type), NBD_REP_SERVER, nbd_rep_name(NBD_REP_SERVER));
            return -EINVAL;
        }
        NbdCursor c(d.data(), d.size());
        uint32_t len = 0;
        NbdExportListing e;
        if (!c.get_u32(&len) || len > c.left || !c.get_string(len, NBD_MAX_STRING, &e.name) ||
            !c.get_string(c.left, NBD_MAX_STRING, &e.description)) {
            error_setg(h->errp, "incorrect option name length");
            return -EINVAL;
        }
        out->push_back(e);
    }
}

// NBD_OPT_INFO with block sizes.  1: answered; 0: the server cannot (stop
// asking); <0: failure.
int coroutine_fn list_info(Haggle *h, NbdExportListing *e)
{
    NbdInfoRequest q{e->name, {NBD_INFO_BLOCK_SIZE}};
    NbdBuf p;
    nbd_info_request_encode(q, &p);
    if (send_option(h, NBD_OPT_INFO, &p) < 0) return -EIO;
    NbdExportInfo info;
    info.min_block = info.opt_block = info.max_block = 0;
    for (;;) {
        NbdOptReply r;
        std::vector<uint8_t> d;
        if (read_reply(h, NBD_OPT_INFO, &r, &d) < 0) return -EIO;
        if (r.type == NBD_REP_INFO) {
            if (!nbd_info_reply_decode(d.data(), d.size(), &info)) {
                error_setg(h->errp, "Malformed info reply");
                return -EIO;
            }
            continue;
        }
        if (r.type == NBD_REP_ACK) {
            e->size = info.size;
            e->flags = info.flags;
            e->min_block = info.min_block;
            e->opt_block = info.opt_block;
            e->max_block = info.max_block;
            return 1;
        }
        if (r.type == NBD_REP_ERR_UNSUP) return 0;
        error_setg(h->errp, "Requested export not available%s%s",
                   d.empty() ? "" : "\nserver reported: ", server_message(d).c_str());
        return -EINVAL;
    }
}

// NBD_OPT_LIST_META_CONTEXT with @query (none: all); appends the names.
int coroutine_fn list_contexts_query(Haggle *h, NbdExportListing *e, const char *query)
{
    NbdMetaRequest q{e->name, {}};
    if (query) q.queries.push_back(query);
    NbdBuf p;
    nbd_meta_request_encode(q, &p);
    if (send_option(h, NBD_OPT_LIST_META_CONTEXT, &p) < 0) return -EIO;
    for (;;) {
        NbdOptReply r;
        std::vector<uint8_t> d;
        if (read_reply(h, NBD_OPT_LIST_META_CONTEXT, &r, &d) < 0) return -EIO;
        if (r.type != NBD_REP_META_CONTEXT) return 0;  // ACK, or an error: no more
        NbdCursor c(d.data(), d.size());
        uint32_t id;
        std::string ctx;
        if (!c.get_u32(&id) || !c.get_string(c.left, NBD_MAX_STRING, &ctx)) {
            error_setg(h->errp, "Malformed meta context reply");
            return -EIO;
        }
        e->contexts.push_back(ctx);
    }
}

// As QEMU: a server that lists contexts but none under "qemu:" for an
// empty query (qemu 3.0) is asked for "qemu:" explicitly.
int coroutine_fn list_contexts(Haggle *h, NbdExportListing *e)
{
    int ret = list_contexts_query(h, e, nullptr);
    if (ret < 0 || e->contexts.empty()) return ret;
    for (const std::string &c : e->contexts) {
        if (c.compare(0, 5, "qemu:") == 0) return 0;
    }
    return list_contexts_query(h, e, "qemu:");
}

}  // namespace

int coroutine_fn nbd_client_list_handshake(NbdChannel *ch, const NbdClientTls *tls,
                                           std::vector<NbdExportListing> *out, Error **errp)
{
    Haggle h{ch, errp};
    uint16_t gflags = 0;
    int ret = read_greeting(&h, tls && tls->creds, &gflags);
    if (ret < 0) return ret;
    if (ret == 1) {
        NbdExportInfo info;
        ret = negotiate_oldstyle(&h, "", &info);
        if (ret < 0) return ret;
        NbdExportListing e;
        e.size = info.size;
        e.flags = info.flags;
        out->push_back(e);
        return 0;
    }
    bool fixed = gflags & NBD_FLAG_FIXED_NEWSTYLE;
    if (send_client_flags(ch, gflags, errp) < 0) return -EIO;
    if (!fixed) {
        error_setg(errp, tls && tls->creds ? "Server does not support STARTTLS"
                                           : "Server does not support export lists");
        return -EINVAL;
    }
    if (tls && tls->creds) {
        ret = negotiate_starttls(&h, *tls);
        if (ret < 0) return ret;
    }
    ret = negotiate_structured(&h);
    if (ret < 0) return ret;
    bool structured = ret == 1;
    ret = list_names(&h, out);
    for (size_t i = 0; ret >= 0 && i < out->size(); i++) {
        ret = list_info(&h, &(*out)[i]);
        if (ret == 0) break;  // no NBD_OPT_INFO: meta contexts will not work either
        if (ret > 0 && structured) ret = list_contexts(&h, &(*out)[i]);
    }
    if (ret < 0) return ret;
    send_option(&h, NBD_OPT_ABORT, nullptr);  // a courtesy; the reply is not awaited
    return 0;
}
