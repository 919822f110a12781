// Probing and the information qemu-img info shows.
#include <cstring>

#include "block/qcow2/qcow2-bitmap-int.h"
#include "block/qcow2/qcow2-int.h"

int qcow2_probe(const uint8_t *buf, int buf_size, const char *)
{
    if (buf_size >= 8 && be32_load(buf) == QCOW2_MAGIC && be32_load(buf + 4) >= 2) return 100;
    return 0;
}

// The VM state lives after the guest disk, from the first L2 span the disk
// does not use (QEMU's qcow2_vm_state_offset); its writes grow the L1 table.
static int64_t vm_state_offset(BDRVQcow2State *s)
{
    return (int64_t)(s->g.size_to_l1(s->hdr.size) * s->g.l2_span());
}

int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = qcow2_state(bs);
    bdi->cluster_size = (int)s->cluster_size;
    bdi->is_dirty = s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY;
    bdi->vm_state_offset = vm_state_offset(s);
    return 0;
}

// {"type": "qcow2", "data": {...}} with QEMU 7.2's keys and order.
JsonNode *qcow2_get_specific_info(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = qcow2_state(bs);
    std::vector<Qcow2BitmapEntry> bitmaps;
    if (!qcow2_get_bitmap_info_list(bs, &bitmaps, errp)) {
        return nullptr;
    }
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "qcow2");
    json_builder_set_member_name(b, "data");
    json_builder_begin_object(b);
    bool v3 = s->hdr.version >= 3;
    json_builder_set_member_name(b, "compat");
    json_builder_add_string_value(b, v3 ? "1.1" : "0.10");
    json_builder_set_member_name(b, "compression-type");
    json_builder_add_string_value(
        b, s->hdr.compression_type == Qcow2CompressionType::Zstd ? "zstd" : "zlib");
    if (v3) {
        json_builder_set_member_name(b, "lazy-refcounts");
        json_builder_add_boolean_value(b, s->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
    }
    // "bitmaps" (directory order, flags in-use then auto) when there are any.
    if (!bitmaps.empty()) {
        json_builder_set_member_name(b, "bitmaps");
        json_builder_begin_array(b);
        for (const Qcow2BitmapEntry &e : bitmaps) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "flags");
            json_builder_begin_array(b);
            if (e.flags & QCOW2_BME_FLAG_IN_USE) json_builder_add_string_value(b, "in-use");
            if (e.flags & QCOW2_BME_FLAG_AUTO) json_builder_add_string_value(b, "auto");
            json_builder_end_array(b);
            json_builder_set_member_name(b, "name");
            json_builder_add_string_value(b, e.name.c_str());
            json_builder_set_member_name(b, "granularity");
            json_builder_add_int_value(b, 1LL << e.granularity_bits);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_set_member_name(b, "refcount-bits");
    json_builder_add_int_value(b, 1 << s->hdr.refcount_order);
    qcow2_data_file_add_info(bs, b);
    qcow2_crypto_add_info(bs, b);
    if (v3) {
        json_builder_set_member_name(b, "corrupt");
        json_builder_add_boolean_value(b, s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT);
        json_builder_set_member_name(b, "extended-l2");
        json_builder_add_boolean_value(b, false);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    g_object_unref(b);
    return root;
}

int coroutine_fn qcow2_co_load_vmstate(BlockDriverState *bs, QEMUIOVector *qiov, int64_t pos)
{
    BLKDBG_EVENT(bs->file, BLKDBG_VMSTATE_LOAD);
    return qcow2_co_preadv_part(bs, vm_state_offset(qcow2_state(bs)) + pos, (int64_t)qiov->size,
                                qiov, 0, 0);
}

int coroutine_fn qcow2_co_save_vmstate(BlockDriverState *bs, QEMUIOVector *qiov, int64_t pos)
{
    BLKDBG_EVENT(bs->file, BLKDBG_VMSTATE_SAVE);
    return qcow2_co_pwritev_part(bs, vm_state_offset(qcow2_state(bs)) + pos, (int64_t)qiov->size,
                                 qiov, 0, 0);
}
