/*
 * configfs-tsm evidence against a stand-in for the kernel's report directory: a FUSE file system
 * served by this test (raw /dev/fuse protocol) that behaves as configfs-tsm does: mkdir creates
 * an entry whose attributes exist at once (provider, generation, inblob, outblob), a write to
 * inblob bumps generation, reading outblob returns the report, rmdir removes the entry.
 * Needs root and /dev/fuse.
 */
#include "attest/evidence.h"
#include "attest/snp_evidence.h"
#include "attest/tsm.h"
#include "common/loop.h"
#include "tests/unit/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the fake kernel ---- */

enum attr { A_DIR, A_PROVIDER, A_GENERATION, A_INBLOB, A_OUTBLOB, A_AUXBLOB, A_COUNT };
static const char *const attr_names[A_COUNT] = { "", "provider", "generation", "inblob", "outblob", "auxblob" };
#define CONTENT_MAX 2048

#define MAX_ENTRIES 16
#define NODE(entry, attr) (100 + (uint64_t)(entry) * 10 + (attr))

struct entry {
	int used;
	char name[64];
	unsigned generation;
	uint8_t inblob[TSM_INBLOB_MAX];
	size_t inblob_len;
};

static struct fake {
	int fd;
	char dir[64];
	pthread_t thread;
	pthread_mutex_t lock;
	const char *provider;  /* what the provider attribute reads */
	int racing_writer;      /* another writer bumps generation too */
	int bad_cert_table;     /* auxblob without its terminating entry */
	int stall_outblob;      /* hold the outblob read until released */
	uint64_t stalled_unique;
	struct entry entries[MAX_ENTRIES];
	int mkdirs, rmdirs;
} fake;

static void reply(uint64_t unique, int error, const void *data, size_t len)
{
	uint8_t buf[sizeof(struct fuse_out_header) + CONTENT_MAX];
	struct fuse_out_header *h = (struct fuse_out_header *)buf;
	h->len = sizeof(*h) + len;
	h->error = error;
	h->unique = unique;
	if (len)
		memcpy(buf + sizeof(*h), data, len);
	if (write(fake.fd, buf, h->len) < 0 && errno != ENOENT)
		perror("fuse reply");
}

/* A real SNP report: Trustee deps/verifier/test_data/snp/test-vlek-report.bin (VMPL 1, VLEK-signed). */
static const char *const snp_report_hex =
	"030000000000000000000300000000000000000000000000000000000000000000000000000000000000000000000000"
	"010000000100000004000000000018dc27000000000000000400000000000000819770b7e6ea6df8dd8fd4dd146b073c"
	"0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca"
	"8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000062e04fba700afd93b3a0cc0649b633ee"
	"36587fa8a8c2eb5d9b7cd7bc5f4bb057ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	"04000000000018d919010100000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"04000000000018db1d3701001d37010004000000000018db000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"bc5688f13b2d3df6fef925555ceacf9fe31dc94c5eb4014e07fa2bbe2f14ae90213bf0e584416f0fdf9c22ee7c94445f"
	"000000000000000000000000000000000000000000000000e0fb397a86fad16bc2bc91f1e73e4140b78a3a89b9bb1c11"
	"b94bdb3753f9cd5d26cfce131c56f418e14ac2e6cd0bc4c2000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	"0000000000000000000000000000000000000000000000000000000000000000";

/* The SEV certificate table: a VLEK entry, an entry of a type nobody reads, the terminator. */
static size_t cert_table(uint8_t *out)
{
	static const char *const guids[] = { "a8074bc2a25a483eaae639c045a0b8a1", "11111111222233334444555555555555" };
	memset(out, 0, 4 * 24);
	for (int i = 0; i < 2; i++) {
		test_unhex(guids[i], out + 24 * i, 16);
		out[24 * i + 16] = 3 * 24 + 4 * i; /* offset, little-endian */
		out[24 * i + 20] = 4;              /* length */
	}
	memcpy(out + 3 * 24, "CERTXXXX", 8);
	if (fake.bad_cert_table)
		out[2 * 24] = 0xee; /* the terminator overwritten */
	return 3 * 24 + 8;
}

/* The report for an inblob: the report data field carries the inblob, as the firmware's does. */
static size_t report_for(const struct entry *e, uint8_t *out)
{
	if (!strcmp(fake.provider, "sev_guest")) {
		test_unhex(snp_report_hex, out, SNP_REPORT_LEN);
		memcpy(out + SNP_REPORT_DATA_OFFSET, e->inblob, e->inblob_len);
		return SNP_REPORT_LEN;
	}
	memcpy(out, "REPORT:", 7);
	memcpy(out + 7, e->inblob, e->inblob_len);
	return 7 + e->inblob_len;
}

static size_t attr_content(const struct entry *e, enum attr a, uint8_t *out)
{
	switch (a) {
	case A_PROVIDER:
		return sprintf((char *)out, "%s\n", fake.provider);
	case A_GENERATION:
		return sprintf((char *)out, "%u\n", e->generation);
	case A_OUTBLOB:
		return report_for(e, out);
	case A_AUXBLOB:
		return strcmp(fake.provider, "sev_guest") ? 0 : cert_table(out);
	default:
		return 0;
	}
}

static void fill_attr(struct fuse_attr *attr, uint64_t node)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = node;
	attr->nlink = 1;
	if (node == FUSE_ROOT_ID || node % 10 == A_DIR) {
		attr->mode = S_IFDIR | 0755;
		attr->nlink = 2;
		return;
	}
	uint8_t tmp[CONTENT_MAX];
	struct entry *e = &fake.entries[(node - 100) / 10];
	enum attr a = node % 10;
	attr->mode = S_IFREG | (a == A_INBLOB ? 0200 : 0444);
	attr->size = attr_content(e, a, tmp);
}

static void reply_entry(uint64_t unique, uint64_t node)
{
	struct fuse_entry_out out = { .nodeid = node };
	fill_attr(&out.attr, node);
	reply(unique, 0, &out, sizeof(out));
}

static int find_entry(const char *name)
{
	for (int i = 0; i < MAX_ENTRIES; i++)
		if (fake.entries[i].used && !strcmp(fake.entries[i].name, name))
			return i;
	return -1;
}

static void on_lookup(const struct fuse_in_header *in, const char *name)
{
	if (in->nodeid == FUSE_ROOT_ID) {
		int i = find_entry(name);
		if (i < 0)
			reply(in->unique, -ENOENT, NULL, 0);
		else
			reply_entry(in->unique, NODE(i, A_DIR));
		return;
	}
	for (int a = A_PROVIDER; a < A_COUNT; a++)
		if (!strcmp(name, attr_names[a])) {
			reply_entry(in->unique, in->nodeid - A_DIR + a);
			return;
		}
	reply(in->unique, -ENOENT, NULL, 0);
}

static void on_mkdir(const struct fuse_in_header *in, const char *name)
{
	int i = 0;
	while (i < MAX_ENTRIES && fake.entries[i].used)
		i++;
	if (in->nodeid != FUSE_ROOT_ID || i == MAX_ENTRIES || find_entry(name) >= 0) {
		reply(in->unique, -EEXIST, NULL, 0);
		return;
	}
	struct entry *e = &fake.entries[i];
	memset(e, 0, sizeof(*e));
	e->used = 1;
	snprintf(e->name, sizeof(e->name), "%.63s", name);
	fake.mkdirs++;
	reply_entry(in->unique, NODE(i, A_DIR));
}

static void on_read(const struct fuse_in_header *in, const struct fuse_read_in *r)
{
	struct entry *e = &fake.entries[(in->nodeid - 100) / 10];
	enum attr a = in->nodeid % 10;
	if (a == A_OUTBLOB && fake.stall_outblob) {
		fake.stalled_unique = in->unique;
		return;
	}
	uint8_t content[CONTENT_MAX];
	size_t len = attr_content(e, a, content);
	size_t off = r->offset < len ? r->offset : len;
	size_t n = len - off < r->size ? len - off : r->size;
	reply(in->unique, 0, content + off, n);
}

static void on_write(const struct fuse_in_header *in, const struct fuse_write_in *w, const uint8_t *data)
{
	struct entry *e = &fake.entries[(in->nodeid - 100) / 10];
	if (in->nodeid % 10 != A_INBLOB) {
		reply(in->unique, -EACCES, NULL, 0);
		return;
	}
	if (w->offset + w->size > TSM_INBLOB_MAX) {
		reply(in->unique, -EFBIG, NULL, 0); /* configfs: beyond the attribute's max size */
		return;
	}
	memcpy(e->inblob + w->offset, data, w->size);
	e->inblob_len = w->offset + w->size;
	e->generation += fake.racing_writer ? 2 : 1;
	struct fuse_write_out out = { .size = w->size };
	reply(in->unique, 0, &out, sizeof(out));
}

static void handle(const struct fuse_in_header *in, const uint8_t *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		struct fuse_init_out out = { .major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION,
					     .max_readahead = 65536, .max_write = 65536 };
		reply(in->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_LOOKUP:
		on_lookup(in, (const char *)arg);
		break;
	case FUSE_GETATTR: {
		struct fuse_attr_out out = { 0 };
		fill_attr(&out.attr, in->nodeid);
		reply(in->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_MKDIR:
		on_mkdir(in, (const char *)arg + sizeof(struct fuse_mkdir_in));
		break;
	case FUSE_RMDIR: {
		int i = in->nodeid == FUSE_ROOT_ID ? find_entry((const char *)arg) : -1;
		if (i >= 0) {
			fake.entries[i].used = 0;
			fake.rmdirs++;
		}
		reply(in->unique, i >= 0 ? 0 : -ENOENT, NULL, 0);
		break;
	}
	case FUSE_OPEN: {
		/* Attributes are read fresh every time, as configfs's are. */
		struct fuse_open_out out = { .open_flags = FOPEN_DIRECT_IO };
		reply(in->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_READ:
		on_read(in, (const struct fuse_read_in *)arg);
		break;
	case FUSE_WRITE:
		on_write(in, (const struct fuse_write_in *)arg, arg + sizeof(struct fuse_write_in));
		break;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_OPENDIR:
	case FUSE_RELEASEDIR:
		reply(in->unique, 0, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break;
	default:
		reply(in->unique, -ENOSYS, NULL, 0);
	}
}

static void *serve(void *arg)
{
	static uint8_t buf[FUSE_MIN_READ_BUFFER + 65536];
	for (;;) {
		ssize_t n = read(fake.fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(struct fuse_in_header))
			return NULL; /* unmounted */
		pthread_mutex_lock(&fake.lock);
		handle((const struct fuse_in_header *)buf, buf + sizeof(struct fuse_in_header));
		pthread_mutex_unlock(&fake.lock);
	}
}

static int fake_mount(void)
{
	memset(&fake, 0, sizeof(fake));
	pthread_mutex_init(&fake.lock, NULL);
	fake.provider = "tdx_guest";
	snprintf(fake.dir, sizeof(fake.dir), "/tmp/tngwg-tsm-%d", (int)getpid());
	if (mkdir(fake.dir, 0700) < 0 && errno != EEXIST)
		return -1;
	fake.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fake.fd < 0) {
		fprintf(stderr, "  /dev/fuse: %s\n", strerror(errno));
		return -1;
	}
	char opts[128];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fake.fd);
	if (mount("tngwg-tsm", fake.dir, "fuse.tngwg-tsm", MS_NOSUID | MS_NODEV, opts) < 0) {
		fprintf(stderr, "  mount fuse on %s: %s\n", fake.dir, strerror(errno));
		close(fake.fd);
		return -1;
	}
	return pthread_create(&fake.thread, NULL, serve, NULL) ? -1 : 0;
}

static void fake_unmount(void)
{
	umount2(fake.dir, MNT_DETACH);
	close(fake.fd);
	pthread_join(fake.thread, NULL);
	rmdir(fake.dir);
}

/* ---- the tests ---- */

struct got {
	int calls;
	int error;
	char message[512];
	char tee[16];
	char *evidence;
};

static void record(void *ctx, const struct evidence_result *r)
{
	struct got *g = ctx;
	g->calls++;
	g->error = r->error;
	if (r->error) {
		snprintf(g->message, sizeof(g->message), "%s", r->message);
		return;
	}
	snprintf(g->tee, sizeof(g->tee), "%s", r->tee);
	g->evidence = strndup((const char *)r->evidence, r->evidence_len);
}

/* One request through a fresh source on a fresh loop; the outcome lands in g. */
static void get_evidence(const uint8_t *data, size_t len, uint64_t timeout_ns, struct got *g)
{
	struct loop *loop = loop_new();
	char err[256];
	struct tsm_source *t = tsm_source_new(loop, fake.dir, err, sizeof(err));
	CHECK(t != NULL);
	memset(g, 0, sizeof(*g));
	CHECK(t && tsm_source_get(t, data, len, loop_now_ns() + timeout_ns, record, g));
	CHECK(g->calls == 0); /* never inside the call */
	for (int i = 0; i < 1000 && g->calls == 0; i++)
		loop_run_once(loop, 20);
	tsm_source_free(t);
	loop_free(loop);
}

static int rmdirs_reach(int n)
{
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&fake.lock);
		int done = fake.rmdirs >= n;
		pthread_mutex_unlock(&fake.lock);
		if (done)
			return 1;
		usleep(5000);
	}
	return 0;
}

static const uint8_t runtime_data[48] = "0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(tdx_report_wrapped_as_trustee_expects)
{
	struct got g;
	get_evidence(runtime_data, sizeof(runtime_data), 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error == 0);
	CHECK_STR(g.tee, "tdx");
	/* {"cc_eventlog": null (no CCEL table here), "quote": base64 of outblob} */
	cJSON *ev = g.evidence ? cJSON_Parse(g.evidence) : NULL;
	CHECK(ev && cJSON_IsNull(cJSON_GetObjectItem(ev, "cc_eventlog")));
	const char *quote = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "quote"));
	uint8_t expected[7 + TSM_INBLOB_MAX] = "REPORT:";
	memcpy(expected + 7, runtime_data, sizeof(runtime_data)); /* zero-padded to 64 */
	uint8_t decoded[128];
	size_t dlen = 0;
	CHECK(quote && sodium_base642bin(decoded, sizeof(decoded), quote, strlen(quote), NULL, &dlen, NULL,
					 sodium_base64_VARIANT_ORIGINAL) == 0);
	CHECK(dlen == sizeof(expected) && !memcmp(decoded, expected, dlen));
	CHECK(g.evidence && !strncmp(g.evidence, "{\"cc_eventlog\":null,\"quote\":\"", 29));
	cJSON_Delete(ev);
	free(g.evidence);
	/* One fresh entry, removed afterwards. */
	CHECK(fake.mkdirs == 1 && rmdirs_reach(1));
}

TEST(cca_token_as_byte_array)
{
	fake.provider = "arm_cca_guest";
	struct got g;
	get_evidence(runtime_data, 3, 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error == 0 && !strcmp(g.tee, "cca"));
	cJSON *ev = g.evidence ? cJSON_Parse(g.evidence) : NULL;
	cJSON *token = cJSON_GetObjectItem(ev, "token");
	CHECK(cJSON_GetArraySize(token) == 7 + TSM_INBLOB_MAX);
	CHECK(cJSON_GetArrayItem(token, 0) && cJSON_GetArrayItem(token, 0)->valueint == 'R');
	CHECK(cJSON_GetArrayItem(token, 7) && cJSON_GetArrayItem(token, 7)->valueint == '0');
	CHECK(cJSON_GetArrayItem(token, 10) && cJSON_GetArrayItem(token, 10)->valueint == 0);
	cJSON_Delete(ev);
	free(g.evidence);
	fake.provider = "tdx_guest";
}

TEST(unknown_provider_refused)
{
	fake.provider = "foo_guest";
	int before = fake.rmdirs;
	struct got g;
	get_evidence(runtime_data, sizeof(runtime_data), 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error != 0);
	CHECK(strstr(g.message, "configfs-tsm: unknown provider 'foo_guest'") != NULL);
	CHECK(rmdirs_reach(before + 1));
	fake.provider = "tdx_guest";
}

static int numbers_are(const cJSON *array, const int *expected, int n)
{
	for (int i = 0; i < n; i++) {
		const cJSON *v = cJSON_GetArrayItem(array, i);
		if (!cJSON_IsNumber(v) || v->valueint != expected[i])
			return 0;
	}
	return 1;
}

static int object_is(const cJSON *obj, const char *json)
{
	cJSON *expected = cJSON_Parse(json);
	int same = cJSON_Compare(obj, expected, 1);
	cJSON_Delete(expected);
	return same;
}

TEST(snp_report_and_certs_as_the_attester_writes_them)
{
	fake.provider = "sev_guest";
	struct got g;
	get_evidence(runtime_data, sizeof(runtime_data), 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error == 0 && !strcmp(g.tee, "snp"));
	cJSON *ev = g.evidence ? cJSON_Parse(g.evidence) : NULL;
	cJSON *r = cJSON_GetObjectItem(ev, "attestation_report");
	/* Field names and order of real AA evidence (Trustee attestation-service/tests/e2e/evidence.json). */
	static const char *const order[] = {
		"version", "guest_svn", "policy", "family_id", "image_id", "vmpl", "sig_algo", "current_tcb",
		"plat_info", "key_info", "report_data", "measurement", "host_data", "id_key_digest",
		"author_key_digest", "report_id", "report_id_ma", "reported_tcb", "cpuid_fam_id", "cpuid_mod_id",
		"cpuid_step", "chip_id", "committed_tcb", "current", "committed", "launch_tcb", "signature",
	};
	const cJSON *f = r ? r->child : NULL;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++, f = f ? f->next : NULL)
		CHECK(f && !strcmp(f->string, order[i]));
	CHECK(f == NULL);
	/* Values of the report, read independently from its bytes. */
	CHECK(cJSON_GetObjectItem(r, "version") && cJSON_GetObjectItem(r, "version")->valueint == 3);
	CHECK(cJSON_GetObjectItem(r, "vmpl") && cJSON_GetObjectItem(r, "vmpl")->valueint == 1);
	CHECK(cJSON_GetObjectItem(r, "policy") && cJSON_GetObjectItem(r, "policy")->valuedouble == 196608);
	CHECK(cJSON_GetObjectItem(r, "plat_info") && cJSON_GetObjectItem(r, "plat_info")->valueint == 39);
	CHECK(cJSON_GetObjectItem(r, "key_info") && cJSON_GetObjectItem(r, "key_info")->valueint == 4);
	CHECK(object_is(cJSON_GetObjectItem(r, "current_tcb"),
			"{\"fmc\":null,\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":220}"));
	CHECK(object_is(cJSON_GetObjectItem(r, "current"), "{\"major\":1,\"minor\":55,\"build\":29}"));
	CHECK(cJSON_GetObjectItem(r, "cpuid_fam_id") && cJSON_GetObjectItem(r, "cpuid_fam_id")->valueint == 25);
	CHECK(numbers_are(cJSON_GetObjectItem(r, "measurement"), (const int[]){ 137, 34, 235, 189 }, 4));
	cJSON *sig = cJSON_GetObjectItem(r, "signature");
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(sig, "r")) == 72);
	CHECK(numbers_are(cJSON_GetObjectItem(sig, "r"), (const int[]){ 188, 86, 136, 241 }, 4));
	CHECK(numbers_are(cJSON_GetObjectItem(sig, "s"), (const int[]){ 224, 251, 57, 122 }, 4));
	/* The report data is the runtime data, zero-padded to 64. */
	int rd[64] = { 0 };
	for (size_t i = 0; i < sizeof(runtime_data); i++)
		rd[i] = runtime_data[i];
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r, "report_data")) == 64);
	CHECK(numbers_are(cJSON_GetObjectItem(r, "report_data"), rd, 64));
	/* The certificate of a known type, named; the other left out. */
	CHECK(object_is(cJSON_GetObjectItem(ev, "cert_chain"), "[{\"cert_type\":\"VLEK\",\"data\":[67,69,82,84]}]"));
	cJSON_Delete(ev);
	free(g.evidence);

	fake.bad_cert_table = 1;
	get_evidence(runtime_data, sizeof(runtime_data), 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error != 0 && strstr(g.message, "no terminating entry"));
	fake.bad_cert_table = 0;
	fake.provider = "tdx_guest";
}

TEST(generation_race_detected)
{
	fake.racing_writer = 1;
	struct got g;
	get_evidence(runtime_data, sizeof(runtime_data), 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error != 0);
	CHECK(strstr(g.message, "another writer") && strstr(g.message, "generation 2, expected 1"));
	fake.racing_writer = 0;
}

TEST(inblob_size_refused)
{
	int mkdirs = fake.mkdirs;
	uint8_t big[TSM_INBLOB_MAX + 1] = { 1 };
	struct got g;
	get_evidence(big, sizeof(big), 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error != 0 && strstr(g.message, "runtime data of 65 bytes"));
	get_evidence(big, 0, 10 * NSEC_PER_SEC, &g);
	CHECK(g.calls == 1 && g.error != 0 && strstr(g.message, "runtime data of 0 bytes"));
	CHECK(fake.mkdirs == mkdirs); /* refused before touching configfs */
}

TEST(stalled_report_hits_deadline)
{
	fake.stall_outblob = 1;
	int before = fake.rmdirs;
	struct got g;
	get_evidence(runtime_data, sizeof(runtime_data), 100 * NSEC_PER_MSEC, &g);
	CHECK(g.calls == 1 && g.error == -ETIMEDOUT && strstr(g.message, "no report within"));
	/* The kernel answers late: the abandoned worker finishes and cleans up on its own. */
	pthread_mutex_lock(&fake.lock);
	fake.stall_outblob = 0;
	reply(fake.stalled_unique, -EIO, NULL, 0);
	pthread_mutex_unlock(&fake.lock);
	CHECK(rmdirs_reach(before + 1));
}

TEST(evidence_source_on_configfs_tsm)
{
	/* The daemon's interface: the address picks configfs-tsm, the timeout bounds each request. */
	char addr[128], err[256];
	snprintf(addr, sizeof(addr), "configfs-tsm://%s", fake.dir);
	struct loop *loop = loop_new();
	struct evidence_source *src = evidence_source_new(loop, addr, 10 * NSEC_PER_SEC, err, sizeof(err));
	CHECK(src != NULL);
	struct got g = { 0 };
	CHECK(src && evidence_source_get(src, runtime_data, sizeof(runtime_data), record, &g));
	for (int i = 0; i < 1000 && g.calls == 0; i++)
		loop_run_once(loop, 20);
	CHECK(g.calls == 1 && g.error == 0 && !strcmp(g.tee, "tdx"));
	free(g.evidence);

	/* Cancelled, or still pending when the source goes away: never called back. */
	int before = fake.rmdirs;
	struct got cancelled = { 0 }, dropped = { 0 };
	struct evidence_request *req = evidence_source_get(src, runtime_data, 8, record, &cancelled);
	CHECK(req && evidence_source_get(src, runtime_data, 8, record, &dropped));
	if (req)
		evidence_request_cancel(req);
	evidence_source_free(src);
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 10);
	CHECK(cancelled.calls == 0 && dropped.calls == 0);
	CHECK(rmdirs_reach(before + 2)); /* the workers still finish and clean up */
	loop_free(loop);

	CHECK(evidence_source_new(NULL, "tcp://127.0.0.1:50002", NSEC_PER_SEC, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "unsupported evidence address 'tcp://127.0.0.1:50002'") != NULL);
}

TEST(missing_directory_refused)
{
	char err[256];
	struct loop *loop = loop_new();
	CHECK(tsm_source_new(loop, "/nonexistent/tsm/report", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/tsm/report is not a directory") != NULL);
	loop_free(loop);
	CHECK_STR(tsm_provider_tee("tdx_guest"), "tdx");
	CHECK_STR(tsm_provider_tee("sev_guest"), "snp");
	CHECK_STR(tsm_provider_tee("arm_cca_guest"), "cca");
	CHECK(tsm_provider_tee("tdx_guest\n") == NULL);
}

int main(void)
{
	TEST_BEGIN("tsm");
	if (getuid() != 0 || fake_mount() < 0) {
		printf("FAIL tsm.setup: needs root and /dev/fuse to serve a configfs-tsm stand-in\n");
		return 1;
	}
	RUN(tdx_report_wrapped_as_trustee_expects);
	RUN(cca_token_as_byte_array);
	RUN(unknown_provider_refused);
	RUN(snp_report_and_certs_as_the_attester_writes_them);
	RUN(generation_race_detected);
	RUN(inblob_size_refused);
	RUN(stalled_report_hits_deadline);
	RUN(evidence_source_on_configfs_tsm);
	RUN(missing_directory_refused);
	fake_unmount();
	TEST_END();
}
