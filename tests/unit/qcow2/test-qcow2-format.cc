// qcow2 on-disk helpers without I/O: header parse/serialise round trips and
// refusals, feature names, L2 entry types, compressed descriptors, refcount
// block accessors for every width, the create layout and compression.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "block/qcow2/qcow2-int.h"
#include "tests/unit/util/cmocka-wrap.h"

namespace {

std::vector<uint8_t> serialize(const Qcow2Header &h, size_t cs = 65536)
{
    std::vector<uint8_t> buf(cs);
    assert_int_equal(qcow2_header_serialize(h, buf.data(), cs), 0);
    return buf;
}

void test_header_round_trip(void **)
{
    Qcow2Header h;
    h.size = 1ULL << 40;
    h.cluster_bits = 12;
    h.l1_size = 7;
    h.l1_table_offset = 0x30000;
    h.refcount_table_offset = 0x10000;
    h.refcount_table_clusters = 2;
    h.refcount_order = 6;
    h.compatible_features = QCOW2_COMPAT_LAZY_REFCOUNTS;
    h.backing_file = "base.img";
    h.backing_format = "raw";
    h.unknown_exts.push_back({0x12345678, {1, 2, 3}});
    auto buf = serialize(h, 4096);
    Qcow2Header p;
    std::string msg;
    assert_int_equal(qcow2_header_parse(buf.data(), buf.size(), &p, &msg), 0);
    assert_int_equal(p.version, 3);
    assert_true(p.size == h.size);
    assert_int_equal(p.cluster_bits, 12);
    assert_int_equal(p.l1_size, 7);
    assert_int_equal(p.refcount_order, 6);
    assert_string_equal(p.backing_file.c_str(), "base.img");
    assert_string_equal(p.backing_format.c_str(), "raw");
    assert_int_equal(p.unknown_exts.size(), 1);
    assert_int_equal(p.unknown_exts[0].type, 0x12345678);
    assert_int_equal(p.unknown_exts[0].data.size(), 3);
    // The feature table we write names the bits.
    assert_string_equal(qcow2_incompat_feature_names(p, QCOW2_INCOMPAT_DIRTY).c_str(), "dirty bit");
}

void test_header_v2(void **)
{
    Qcow2Header h;
    h.version = 2;
    h.header_length = QCOW2_V2_HEADER_LEN;
    h.size = 1 << 20;
    auto buf = serialize(h);
    Qcow2Header p;
    std::string msg;
    assert_int_equal(qcow2_header_parse(buf.data(), buf.size(), &p, &msg), 0);
    assert_int_equal(p.version, 2);
    assert_int_equal(p.refcount_order, 4);
    assert_true(p.incompat_names.empty());  // v2 has no feature table
}

int parse_with(uint32_t off, uint32_t v, std::string *msg)
{
    Qcow2Header h;
    auto buf = serialize(h);
    be32_store(&buf[off], v);
    Qcow2Header p;
    return qcow2_header_parse(buf.data(), buf.size(), &p, msg);
}

void test_header_refusals(void **)
{
    std::string msg;
    assert_true(parse_with(0, 0x12345678, &msg) < 0);
    assert_string_equal(msg.c_str(), "Image is not in qcow2 format");
    assert_true(parse_with(4, 4, &msg) < 0);
    assert_string_equal(msg.c_str(), "Unsupported qcow2 version 4");
    assert_true(parse_with(20, 22, &msg) < 0);
    assert_string_equal(msg.c_str(), "Unsupported cluster size: 2^22");
    assert_true(parse_with(96, 7, &msg) < 0);
    assert_true(parse_with(100, 1 << 20, &msg) < 0);
    assert_string_equal(msg.c_str(), "qcow2 header exceeds cluster size");
    // AES and LUKS parse (the open refuses them with the reason); an unknown
    // method is refused here in QEMU's words.
    assert_int_equal(parse_with(32, 1, &msg), 0);
    assert_int_equal(parse_with(32, 2, &msg), 0);
    assert_true(parse_with(32, 3, &msg) < 0);
    assert_string_equal(msg.c_str(), "Unsupported encryption method 3");
    // A truncated first cluster is refused, not read past.
    Qcow2Header p;
    std::vector<uint8_t> tiny(40, 0);
    assert_true(qcow2_header_parse(tiny.data(), tiny.size(), &p, &msg) < 0);
}

void test_unknown_feature_names(void **)
{
    Qcow2Header h;
    h.incompat_names.emplace_back(1ULL << 5, "frobnication");
    std::string s = qcow2_incompat_feature_names(h, (1ULL << 5) | (1ULL << 8));
    assert_string_equal(s.c_str(), "frobnication, Unknown incompatible feature: 100");
}

// Parses a v3 header with incompatible bit 40 set and @exts after the
// feature table we write; returns the refusal message.
std::string refusal_with_exts(std::vector<Qcow2HeaderExt> exts)
{
    Qcow2Header h;
    h.incompatible_features = 1ULL << 40;
    h.unknown_exts = std::move(exts);
    auto buf = serialize(h);
    Qcow2Header p;
    std::string msg;
    assert_int_equal(qcow2_header_parse(buf.data(), buf.size(), &p, &msg), -ENOTSUP);
    return msg;
}

std::vector<uint8_t> bytes(const char *s, size_t n) { return std::vector<uint8_t>(s, s + n); }

void test_image_feature_table(void **)
{
    const uint32_t T = QCOW2_EXT_FEATURE_TABLE;
    // A short last entry is zero-padded; the image's table replaces ours.
    assert_string_equal(refusal_with_exts({{T, bytes("\x00\x28Short", 7)}}).c_str(),
                        "Unsupported qcow2 feature(s): Short");
    // A compatible entry for the same bit names nothing.
    assert_string_equal(refusal_with_exts({{T, bytes("\x01\x28"
                                                     "Compat",
                                                     8)}})
                            .c_str(),
                        "Unsupported qcow2 feature(s): Unknown incompatible feature: 10000000000");
    // An entry with an empty name ends the table.
    std::vector<uint8_t> two(96, 0);
    two[49] = 40;
    memcpy(&two[50], "Later", 5);
    assert_string_equal(refusal_with_exts({{T, two}}).c_str(),
                        "Unsupported qcow2 feature(s): Unknown incompatible feature: 10000000000");
    // Names are cut at 46 bytes; the bit number wraps at 64.
    std::string longname(60, 'n');
    std::string wrapped = std::string("\x00\x68", 2) + longname;
    assert_string_equal(refusal_with_exts({{T, bytes(wrapped.data(), wrapped.size())}}).c_str(),
                        ("Unsupported qcow2 feature(s): " + longname.substr(0, 46)).c_str());
    // A broken extension after the table does not hide the names.
    std::vector<uint8_t> too_long(2000, 'x');
    assert_string_equal(
        refusal_with_exts({{T, bytes("\x00\x28Named", 7)}, {QCOW2_EXT_BACKING_FORMAT, too_long}})
            .c_str(),
        "Unsupported qcow2 feature(s): Named");
}

void test_l2_entry_types(void **)
{
    assert_true(qcow2_l2_entry_type(0, 3) == Qcow2ClusterType::Unallocated);
    assert_true(qcow2_l2_entry_type(1, 3) == Qcow2ClusterType::ZeroPlain);
    assert_true(qcow2_l2_entry_type(0x50000 | 1, 3) == Qcow2ClusterType::ZeroAlloc);
    assert_true(qcow2_l2_entry_type(0x50000 | QCOW_OFLAG_COPIED, 3) == Qcow2ClusterType::Normal);
    // v2 has no zero flag: the bit is ignored.
    assert_true(qcow2_l2_entry_type(1, 2) == Qcow2ClusterType::Unallocated);
    assert_true(qcow2_l2_entry_type(QCOW_OFLAG_COMPRESSED | 0x1234, 3) ==
                Qcow2ClusterType::Compressed);
}

void test_compressed_descriptor(void **)
{
    for (int bits = 9; bits <= 21; bits++) {
        Qcow2Geometry g;
        g.init(bits, 4);
        uint64_t host = 0x123456789ULL & ~1ULL, csize = g.cluster_size() / 2 + 3;
        uint64_t e = qcow2_compressed_entry(g, host, csize);
        uint64_t h2, c2;
        qcow2_compressed_decode(g, e, &h2, &c2);
        assert_true(h2 == host);
        assert_true(c2 >= csize);             // whole sectors
        assert_true((host + c2) % 512 == 0);  // ends on a sector
        assert_true(c2 - csize < 512);
    }
}

void test_refblock_widths(void **)
{
    for (int order = 0; order <= 6; order++) {
        std::vector<uint8_t> block(512, 0);
        uint64_t entries = 512 * 8 >> order;
        Qcow2Geometry g;
        g.init(9, order);
        uint64_t max = g.refcount_max();
        for (uint64_t i = 0; i < entries; i += 3) {
            qcow2_refblock_set(block.data(), order, i, (i * 7) & max);
        }
        for (uint64_t i = 0; i < entries; i++) {
            uint64_t want = i % 3 == 0 ? (i * 7) & max : 0;
            assert_true(qcow2_refblock_get(block.data(), order, i) == want);
        }
        qcow2_refblock_set(block.data(), order, entries - 1, max);
        assert_true(qcow2_refblock_get(block.data(), order, entries - 1) == max);
    }
}

void test_create_layout(void **)
{
    Qcow2Geometry g;
    g.init(16, 4);
    Qcow2CreateLayout l;
    qcow2_create_layout(g, 1ULL << 30, false, &l);
    assert_int_equal(l.reftable_cluster, 1);
    assert_int_equal(l.refblock_cluster, 2);
    assert_int_equal(l.l1_cluster, 3);
    assert_int_equal(l.l1_size, 2);
    assert_int_equal(l.total_clusters, 4);
    // Preallocated metadata: everything still counted by the refblocks.
    g.init(9, 0);
    qcow2_create_layout(g, 64ULL << 20, true, &l);
    assert_true(l.refblocks * g.refblock_entries() >= l.total_clusters);
    assert_true(l.reftable_clusters * 64 >= l.refblocks);
}

void test_compress_round_trip(void **)
{
    for (auto t : {Qcow2CompressionType::Zlib, Qcow2CompressionType::Zstd}) {
        std::vector<uint8_t> in(65536), out(65536), back(65536);
        for (size_t i = 0; i < in.size(); i++)
            in[i] = (uint8_t)(i / 100);
        int64_t n = qcow2_compress(t, out.data(), out.size() - 1, in.data(), in.size());
        assert_true(n > 0 && n < 65535);
        // Readers hand over whole sectors: trailing bytes must be ignored.
        assert_int_equal(qcow2_decompress(t, back.data(), back.size(), out.data(), (size_t)n + 100),
                         0);
        assert_memory_equal(in.data(), back.data(), in.size());
        // Incompressible data does not fit.
        for (size_t i = 0; i < in.size(); i++)
            in[i] = (uint8_t)(i * 2654435761u >> 13);
        assert_true(qcow2_compress(t, out.data(), 100, in.data(), in.size()) < 0);
        // Garbage is an error, never a crash.
        memset(out.data(), 0xff, 64);
        assert_true(qcow2_decompress(t, back.data(), back.size(), out.data(), 64) < 0);
    }
}

// Snapshot table entries written by us parse back identically, keep
// unknown extra data, and match the layout QEMU 7.2 writes (40-byte header,
// 24 bytes of extra data, id, name, padding to 8).
void test_snapshot_table_round_trip(void **)
{
    std::vector<Qcow2Snapshot> sns(2);
    sns[0].l1_table_offset = 0x60000;
    sns[0].l1_size = 1;
    sns[0].id_str = "1";
    sns[0].name = "snapA";
    sns[0].date_sec = 0x6b05afb1;
    sns[0].date_nsec = 0x0a95cef0;
    sns[0].disk_size = 1 << 20;
    sns[0].icount = 0;
    sns[1] = sns[0];
    sns[1].id_str = "12";
    sns[1].name = "";
    sns[1].vm_state_size = 5ULL << 32;
    sns[1].icount = UINT64_MAX;
    sns[1].unknown_extra = {1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<uint8_t> buf = qcow2_snapshots_serialize(sns);
    assert_int_equal(buf.size(), 72 + 80);
    const char *qemu_entry = "000000000006000000000001000100056b05afb10a95cef0"
                             "0000000000000000000000000000001800000000000000000000000000100000"
                             "000000000000000031736e617041";
    for (size_t i = 0; i < strlen(qemu_entry) / 2; i++) {
        unsigned v;
        sscanf(qemu_entry + 2 * i, "%2x", &v);
        assert_int_equal(buf[i], v);
    }
    std::vector<Qcow2Snapshot> back;
    std::string msg;
    assert_int_equal(qcow2_snapshots_parse(buf.data(), buf.size(), 2, &back, &msg),
                     (int64_t)buf.size());
    assert_int_equal(back.size(), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_true(back[i].id_str == sns[i].id_str && back[i].name == sns[i].name);
        assert_int_equal(back[i].l1_table_offset, sns[i].l1_table_offset);
        assert_int_equal(back[i].vm_state_size, sns[i].vm_state_size);
        assert_int_equal(back[i].disk_size, sns[i].disk_size);
        assert_int_equal(back[i].icount, sns[i].icount);
        assert_true(back[i].unknown_extra == sns[i].unknown_extra);
    }
    assert_int_equal(back[1].extra_size, 32);
    // A truncated table is an error.
    assert_true(qcow2_snapshots_parse(buf.data(), buf.size() - 8, 2, &back, &msg) < 0);
}

}  // namespace

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_header_v2),
        cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_unknown_feature_names),
        cmocka_unit_test(test_image_feature_table),
        cmocka_unit_test(test_l2_entry_types),
        cmocka_unit_test(test_compressed_descriptor),
        cmocka_unit_test(test_refblock_widths),
        cmocka_unit_test(test_create_layout),
        cmocka_unit_test(test_compress_round_trip),
        cmocka_unit_test(test_snapshot_table_round_trip),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
