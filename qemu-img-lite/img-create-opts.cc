// Creation options (-o) for create/convert/measure: parsing the option list,
// type checks against the driver's CreateOptDesc, `-o help`, and the
// "Formatting ..." line in qemu-img's order.
#include "qemu-img-lite/img-create-opts.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "block/block.h"

bool img_parse_option_list(const char *list, CreateOpts *out)
{
    std::string key, val, cur;
    bool in_val = false;
    auto finish = [&]() -> bool {
        std::string &k = in_val ? key : cur;
        if (!in_val) {
            key = cur;
            val = "on";
        } else {
            val = cur;
        }
        if (k.empty()) {
            return false;
        }
        out->set(key, val);
        key.clear();
        val.clear();
        cur.clear();
        in_val = false;
        return true;
    };
    for (const char *p = list; *p; p++) {
        if (*p == ',' && p[1] == ',' && in_val) {
            cur.push_back(',');
            p++;
        } else if (*p == ',') {
            if (!finish()) return false;
        } else if (*p == '=' && !in_val) {
            key = cur;
            cur.clear();
            in_val = true;
        } else {
            cur.push_back(*p);
        }
    }
    return finish();
}

void CreateOpts::set(const std::string &k, const std::string &v)
{
    for (auto &e : items) {
        if (e.first == k) {
            e.second = v;
            return;
        }
    }
    items.emplace_back(k, v);
}

const char *CreateOpts::get(const std::string &k) const
{
    for (auto &e : items) {
        if (e.first == k) return e.second.c_str();
    }
    return nullptr;
}

void CreateOpts::del(const std::string &k)
{
    items.erase(
        std::remove_if(items.begin(), items.end(), [&](const auto &e) { return e.first == k; }),
        items.end());
}

namespace {

const CreateOptDesc *find_desc(const CreateOptDesc *descs, const std::string &name)
{
    for (const CreateOptDesc *d = descs; d && d->name; d++) {
        if (name == d->name) return d;
    }
    return nullptr;
}

const char *type_name(CreateOptType t)
{
    switch (t) {
    case CreateOptType::Size: return "size";
    case CreateOptType::Number: return "num";
    case CreateOptType::Bool: return "bool (on/off)";
    default: return "str";
    }
}

bool check_value(const CreateOptDesc *d, std::string *value, Error **errp)
{
    switch (d->type) {
    case CreateOptType::Bool: {
        bool b;
        if (!keyval_parse_bool(value->c_str(), &b)) {
            error_setg(errp, "Parameter '%s' expects 'on' or 'off'", d->name);
            return false;
        }
        return true;
    }
    case CreateOptType::Size: {
        uint64_t v;
        if (qemu_strtosz(value->c_str(), &v) < 0) {
            error_setg(errp,
                       "Parameter '%s' expects a non-negative number below 2^64\n"
                       "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                       "tera-, peta-\nand exabytes, respectively.",
                       d->name);
            return false;
        }
        *value = std::to_string(v);  // printed and passed on normalised
        return true;
    }
    case CreateOptType::Number: {
        int64_t v;
        if (qemu_strtoi64(value->c_str(), &v) < 0) {
            error_setg(errp, "Parameter '%s' expects a number", d->name);
            return false;
        }
        return true;
    }
    default: return true;
    }
}

// Where qemu-img 7.2 puts each qcow2 option in its "Formatting" line, and
// the defaults it shows.
struct PrintSlot {
    const char *name;
    const char *def;
};
const PrintSlot kQcow2Order[] = {
    {"encryption", nullptr},
    {"encrypt.format", nullptr},
    {"encrypt.key-secret", nullptr},
    {"encrypt.cipher-alg", nullptr},
    {"encrypt.cipher-mode", nullptr},
    {"encrypt.ivgen-alg", nullptr},
    {"encrypt.ivgen-hash-alg", nullptr},
    {"encrypt.hash-alg", nullptr},
    {"encrypt.iter-time", nullptr},
    {"cluster_size", "65536"},
    {"extended_l2", "off"},
    {"preallocation", nullptr},
    {"compression_type", "zlib"},
    {"size", nullptr},
    {"compat", nullptr},
    {"backing_file", nullptr},
    {"backing_fmt", nullptr},
    {"data_file", nullptr},
    {"data_file_raw", nullptr},
    {"lazy_refcounts", "off"},
    {"refcount_bits", "16"},
    {nullptr, nullptr},
};
const PrintSlot kLuksOrder[] = {
    {"size", nullptr},        {"key-secret", nullptr}, {"cipher-alg", nullptr},
    {"cipher-mode", nullptr}, {"ivgen-alg", nullptr},  {"ivgen-hash-alg", nullptr},
    {"hash-alg", nullptr},    {"iter-time", nullptr},  {"preallocation", nullptr},
    {nullptr, nullptr},
};
const PrintSlot kRawOrder[] = {
    {"size", nullptr},          {"nocow", nullptr},
    {"preallocation", nullptr}, {"extent_size_hint", nullptr},
    {nullptr, nullptr},
};

}  // namespace

bool img_check_create_opts(const BlockDriver *drv, CreateOpts *opts, Error **errp,
                           const BlockDriver *proto)
{
    for (auto &e : opts->items) {
        const CreateOptDesc *d = find_desc(bdrv_driver_create_opts(drv), e.first);
        if (!d && proto) {
            d = find_desc(bdrv_driver_create_opts(proto), e.first);
        }
        if (!d && e.first == "size") {
            static const CreateOptDesc size_desc = {"size", CreateOptType::Size, "", nullptr};
            d = &size_desc;
        }
        if (!d) {
            error_setg(errp, "Invalid parameter '%s'", e.first.c_str());
            return false;
        }
        if (!check_value(d, &e.second, errp)) {
            return false;
        }
    }
    return true;
}

const BlockDriver *img_protocol_for(const char *filename)
{
    const BlockDriver *p = filename ? bdrv_find_protocol(filename, nullptr) : nullptr;
    return p ? p : bdrv_find_format("file");
}

void img_print_create_help(const BlockDriver *drv, const char *filename)
{
    bool with_protocol = filename != nullptr;
    std::vector<const CreateOptDesc *> descs;
    bool have_size = false;
    // As qemu_opts_append(): a name the format already has (size,
    // preallocation) is listed once, with the format's text.
    auto collect = [&](const CreateOptDesc *list) {
        for (const CreateOptDesc *d = list; d && d->name; d++) {
            if (std::any_of(descs.begin(), descs.end(),
                            [&](const CreateOptDesc *o) { return !strcmp(o->name, d->name); })) {
                continue;
            }
            if (!strcmp(d->name, "size")) have_size = true;
            descs.push_back(d);
        }
    };
    collect(bdrv_driver_create_opts(drv));
    const BlockDriver *file = with_protocol ? img_protocol_for(filename) : nullptr;
    if (file && file != drv) {
        collect(bdrv_driver_create_opts(file));
    }
    static const CreateOptDesc size_desc = {"size", CreateOptType::Size, "Virtual disk size",
                                            nullptr};
    if (!have_size) descs.push_back(&size_desc);
    std::sort(descs.begin(), descs.end(), [](const CreateOptDesc *a, const CreateOptDesc *b) {
        return strcmp(a->name, b->name) < 0;
    });
    if (with_protocol) {
        printf("Supported options:\n");
    } else {
        printf("Supported %s options:\n", bdrv_driver_format_name(drv));
    }
    for (const CreateOptDesc *d : descs) {
        std::string head = std::string(d->name) + "=<" + type_name(d->type) + ">";
        printf("  %-22s - %s\n", head.c_str(), d->help ? d->help : "");
    }
    if (!with_protocol) {
        printf("\nThe protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
}

// QEMU prints option values as option syntax: a comma doubled.
static std::string escape_commas(const std::string &v)
{
    std::string out;
    for (char c : v) {
        out += c == ',' ? std::string(",,") : std::string(1, c);
    }
    return out;
}

std::string img_formatting_line(const char *filename, const char *fmt, const CreateOpts &opts)
{
    std::string line = std::string("Formatting '") + filename + "', fmt=" + fmt;
    const PrintSlot *order = !strcmp(fmt, "qcow2")  ? kQcow2Order
                             : !strcmp(fmt, "raw")  ? kRawOrder
                             : !strcmp(fmt, "luks") ? kLuksOrder
                                                    : nullptr;
    std::vector<std::string> printed;
    for (const PrintSlot *s = order; s && s->name; s++) {
        const char *v = opts.get(s->name);
        if (!v) v = s->def;
        if (v) {
            line += std::string(" ") + s->name + "=" + escape_commas(v);
        }
        printed.push_back(s->name);
    }
    for (auto &e : opts.items) {
        if (std::find(printed.begin(), printed.end(), e.first) == printed.end()) {
            line += " " + e.first + "=" + escape_commas(e.second);
        }
    }
    return line;
}

QDict img_create_opts_to_qdict(const CreateOpts &opts)
{
    QDict d;
    for (auto &e : opts.items) {
        d.set(e.first, e.second);
    }
    return d;
}

bool img_check_amend_opts(const BlockDriver *drv, CreateOpts *opts, Error **errp)
{
    const CreateOptDesc *amend = bdrv_driver_amend_opts(drv);
    for (auto &e : opts->items) {
        const CreateOptDesc *d = find_desc(amend, e.first);
        if (d) {
            if (!check_value(d, &e.second, errp)) return false;
            continue;
        }
        // As qemu-img: the hint when the whole list parses as creation
        // options.
        bool creatable = true;
        for (auto &o : opts->items) {
            const CreateOptDesc *cd = find_desc(amend, o.first);
            if (!cd) cd = find_desc(bdrv_driver_create_opts(drv), o.first);
            std::string v = o.second;
            ErrorPtr ignored;
            if (!cd || !check_value(cd, &v, &ignored)) {
                creatable = false;
                break;
            }
        }
        if (creatable) {
            error_setg(errp,
                       "Invalid parameter '%s'\nThis option is only supported for image "
                       "creation",
                       e.first.c_str());
        } else {
            error_setg(errp, "Invalid parameter '%s'", e.first.c_str());
        }
        return false;
    }
    return true;
}

void img_print_amend_help(const BlockDriver *drv)
{
    std::vector<const CreateOptDesc *> descs;
    for (const CreateOptDesc *d = bdrv_driver_amend_opts(drv); d && d->name; d++)
        descs.push_back(d);
    std::sort(descs.begin(), descs.end(), [](const CreateOptDesc *a, const CreateOptDesc *b) {
        return strcmp(a->name, b->name) < 0;
    });
    printf("Amend options for '%s':\n", bdrv_driver_format_name(drv));
    for (const CreateOptDesc *d : descs) {
        std::string head = std::string(d->name) + "=<" + type_name(d->type) + ">";
        printf("  %-22s - %s\n", head.c_str(), d->help ? d->help : "");
    }
}
