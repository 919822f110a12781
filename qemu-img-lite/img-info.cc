// qemu-img-lite info: image facts as human text or JSON (qemu-img 7.2's
// ImageInfo), optionally for the whole backing chain.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "block/block.h"
#include "qemu-img-lite/img-output.h"
#include "qemu-img-lite/img.h"

namespace {

struct InfoArgs {
    const char *fmt = nullptr;
    OutputFormat ofmt = OFORMAT_HUMAN;
    bool chain = false;
    bool force_share = false;
    bool image_opts = false;
    const char *filename = nullptr;
};

void add_snapshots(JsonBuilder *b, const std::vector<QEMUSnapshotInfo> &sns)
{
    json_builder_set_member_name(b, "snapshots");
    json_builder_begin_array(b);
    for (const QEMUSnapshotInfo &sn : sns) {
        json_builder_begin_object(b);
        jb_str(b, "id", sn.id_str.c_str());
        jb_str(b, "name", sn.name.c_str());
        jb_int(b, "vm-state-size", (int64_t)sn.vm_state_size);
        jb_int(b, "date-sec", sn.date_sec);
        jb_int(b, "date-nsec", sn.date_nsec);
        jb_int(b, "vm-clock-sec", (int64_t)(sn.vm_clock_nsec / 1000000000));
        jb_int(b, "vm-clock-nsec", (int64_t)(sn.vm_clock_nsec % 1000000000));
        if (sn.icount != UINT64_MAX) {
            jb_int(b, "icount", (int64_t)sn.icount);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

void add_backing(JsonBuilder *b, BlockDriverState *bs)
{
    if (!*bdrv_get_backing_filename(bs)) {
        return;
    }
    jb_str(b, "backing-filename", bdrv_get_backing_filename(bs));
    jb_str(b, "full-backing-filename", bdrv_get_full_backing_filename(bs));
    if (*bdrv_get_backing_format(bs)) {
        jb_str(b, "backing-filename-format", bdrv_get_backing_format(bs));
    }
}

// Builds qemu-img's ImageInfo object for one opened image; null on error
// (already reported).
JsonNode *collect_image_info(BlockBackend *blk, const char *filename)
{
    BlockDriverState *bs = blk_bs(blk);
    int64_t size = blk_getlength(blk);
    if (size < 0) {
        error_report("Can't get image size '%s': %s", filename, strerror((int)-size));
        return nullptr;
    }
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    jb_str(b, "filename", filename);
    jb_str(b, "format", bdrv_get_format_name(bs));
    jb_int(b, "virtual-size", size);
    int64_t actual = img_allocated_file_size(bs);
    if (actual >= 0) {
        jb_int(b, "actual-size", actual);
    }
    BlockDriverInfo bdi;
    int ret = bdrv_get_info(bs, &bdi);
    if (ret == -ENOTSUP) {
        ret = 0;  // formats without such info still show their (default) dirty flag
    }
    if (ret >= 0) {
        if (bdi.cluster_size) {
            jb_int(b, "cluster-size", bdi.cluster_size);
        }
        jb_bool(b, "dirty-flag", bdi.is_dirty);
    }
    add_backing(b, bs);
    std::vector<QEMUSnapshotInfo> sns;
    if (bdrv_snapshot_list(bs, &sns) >= 0 && !sns.empty()) {
        add_snapshots(b, sns);
    }
    ErrorPtr err;
    JsonNode *spec = bdrv_get_specific_info(bs, &err);
    if (err) {
        error_report_err(err.release());
        g_object_unref(b);
        return nullptr;
    }
    if (spec) {
        json_builder_set_member_name(b, "format-specific");
        json_builder_add_value(b, spec);  // takes ownership
    }
    if (bdrv_is_encrypted(bs)) {
        jb_bool(b, "encrypted", true);
    }
    json_builder_end_object(b);
    JsonNode *root = json_builder_get_root(b);
    g_object_unref(b);
    return root;
}

void print_snapshot_rows(JsonArray *arr)
{
    std::vector<QEMUSnapshotInfo> sns;
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        QEMUSnapshotInfo sn;
        sn.id_str = json_object_get_string_member(o, "id");
        sn.name = json_object_get_string_member(o, "name");
        sn.vm_state_size = (uint64_t)json_object_get_int_member(o, "vm-state-size");
        sn.date_sec = (uint32_t)json_object_get_int_member(o, "date-sec");
        sn.date_nsec = (uint32_t)json_object_get_int_member(o, "date-nsec");
        sn.vm_clock_nsec = (uint64_t)json_object_get_int_member(o, "vm-clock-sec") * 1000000000 +
                           (uint64_t)json_object_get_int_member(o, "vm-clock-nsec");
        if (json_object_has_member(o, "icount")) {
            sn.icount = (uint64_t)json_object_get_int_member(o, "icount");
        }
        sns.push_back(sn);
    }
    img_print_snapshot_table(sns);
}

void dump_human(JsonObject *o)
{
    int64_t vsize = json_object_get_int_member(o, "virtual-size");
    printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRId64 " bytes)\n",
           json_object_get_string_member(o, "filename"), json_object_get_string_member(o, "format"),
           size_to_str((uint64_t)vsize).c_str(), vsize);
    if (json_object_has_member(o, "actual-size")) {
        printf("disk size: %s\n",
               size_to_str((uint64_t)json_object_get_int_member(o, "actual-size")).c_str());
    } else {
        printf("disk size: unavailable\n");
    }
    if (json_object_has_member(o, "encrypted") && json_object_get_boolean_member(o, "encrypted")) {
        printf("encrypted: yes\n");
    }
    if (json_object_has_member(o, "cluster-size")) {
        printf("cluster_size: %" PRId64 "\n",
               (int64_t)json_object_get_int_member(o, "cluster-size"));
    }
    if (json_object_has_member(o, "dirty-flag") &&
        json_object_get_boolean_member(o, "dirty-flag")) {
        printf("dirty flag: yes\n");
    }
    if (json_object_has_member(o, "backing-filename")) {
        const char *bf = json_object_get_string_member(o, "backing-filename");
        const char *full = json_object_get_string_member(o, "full-backing-filename");
        printf("backing file: %s", bf);
        if (strcmp(bf, full)) {
            printf(" (actual path: %s)", full);
        }
        printf("\n");
    }
    if (json_object_has_member(o, "backing-filename-format")) {
        printf("backing file format: %s\n",
               json_object_get_string_member(o, "backing-filename-format"));
    }
    if (json_object_has_member(o, "snapshots")) {
        printf("Snapshot list:\n");
        print_snapshot_rows(json_object_get_array_member(o, "snapshots"));
    }
    if (json_object_has_member(o, "format-specific")) {
        JsonObject *spec = json_object_get_object_member(o, "format-specific");
        printf("Format specific information:\n");
        img_dump_human(json_object_get_object_member(spec, "data"), 1);
    }
}

void parse_info_args(int argc, char **argv, InfoArgs *a)
{
    enum { OPTION_OUTPUT = 256, OPTION_BACKING_CHAIN, OPTION_IMAGE_OPTS };
    static const struct option long_options[] = {
        {"help", no_argument, nullptr, 'h'},
        {"format", required_argument, nullptr, 'f'},
        {"output", required_argument, nullptr, OPTION_OUTPUT},
        {"backing-chain", no_argument, nullptr, OPTION_BACKING_CHAIN},
        {"force-share", no_argument, nullptr, 'U'},
        {"image-opts", no_argument, nullptr, OPTION_IMAGE_OPTS},
        {nullptr, 0, nullptr, 0},
    };
    const char *output = nullptr;
    int c;
    while ((c = img_getopt(argc, argv, ":f:hU", long_options)) != -1) {
        switch (c) {
        case 'f': a->fmt = optarg; break;
        case 'U': a->force_share = true; break;
        case OPTION_OUTPUT: output = optarg; break;
        case OPTION_BACKING_CHAIN: a->chain = true; break;
        case OPTION_IMAGE_OPTS: a->image_opts = true; break;
        }
    }
    if (optind != argc - 1) {
        error_exit("Expecting one image file name");
    }
    a->filename = argv[optind];
    if (output) {
        a->ofmt = img_parse_output_format(output);
    }
}

}  // namespace

int img_info(int argc, char **argv)
{
    InfoArgs a;
    parse_info_args(argc, argv, &a);

    std::vector<JsonNode *> infos;
    std::set<std::string> seen;
    std::string filename = a.filename;
    std::string fmt = a.fmt ? a.fmt : "";
    int ret = 0;
    // The first name is opened even when empty: the open reports it.
    for (bool first = true; first || !filename.empty(); first = false) {
        if (!seen.insert(filename).second) {
            error_report("Backing file '%s' creates an infinite loop.", filename.c_str());
            ret = 1;
            break;
        }
        ImgOpenArgs oa;
        oa.fmt = fmt.empty() ? nullptr : fmt.c_str();
        oa.flags = BDRV_O_NO_BACKING | BDRV_O_NO_IO;
        oa.force_share = a.force_share;
        oa.image_opts = first && a.image_opts;
        BlkRef blk(img_open(filename.c_str(), oa));
        // QEMU shows the node's own name: an option string, a json: tree
        // or "file:x.img" name the file under them.
        JsonNode *info =
            blk ? collect_image_info(blk.get(), bdrv_get_filename(blk_bs(blk.get()))) : nullptr;
        if (!info) {
            ret = 1;
            break;
        }
        infos.push_back(info);
        BlockDriverState *bs = blk_bs(blk.get());
        filename.clear();
        if (a.chain && *bdrv_get_backing_filename(bs)) {
            filename = bdrv_get_full_backing_filename(bs);
            fmt = bdrv_get_backing_format(bs);
        }
    }
    if (ret == 0) {
        if (a.ofmt == OFORMAT_JSON) {
            JsonNode *root = infos[0];
            JsonArray *arr = nullptr;
            if (a.chain) {
                arr = json_array_new();
                for (JsonNode *n : infos)
                    json_array_add_element(arr, json_node_ref(n));
                root = json_node_init_array(json_node_alloc(), arr);
                json_array_unref(arr);
            }
            printf("%s\n", img_json_pretty(root).c_str());
            if (a.chain) json_node_unref(root);
        } else {
            for (size_t i = 0; i < infos.size(); i++) {
                if (i) printf("\n");
                dump_human(json_node_get_object(infos[i]));
            }
        }
    }
    for (JsonNode *n : infos)
        json_node_unref(n);
    return ret;
}
