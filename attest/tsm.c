#include "attest/tsm.h"
#include "attest/snp_evidence.h"
#include "common/log.h"
#include "common/loop.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_SUB "tsm"
#define OUTBLOB_MAX (1u << 20) /* the kernel caps outblob at 32 KiB; allow room for auxblob */
#define CCEL_PATH "/sys/firmware/acpi/tables/data/CCEL"
/* Each request writes inblob once, so the kernel's generation counter must read 1. */
#define EXPECTED_GENERATION 1

struct tsm_source {
	struct loop *loop;
	char *dir;
	atomic_uint next_entry;
};

/* Shared by the loop side and the worker; the last of the two to let go frees it. */
struct tsm_job {
	atomic_int refs;
	int eventfd;
	char *entry; /* the report entry's path */
	uint8_t inblob[TSM_INBLOB_MAX];
	size_t inblob_len;
	/* results, written by the worker before it signals */
	int error;
	char message[512];
	const char *tee;
	char *evidence;
};

struct tsm_request {
	struct tsm_source *src;
	struct tsm_job *job;
	struct loop_timer deadline;
	uint64_t timeout_ns;
	evidence_done_fn done;
	void *ctx;
};

const char *tsm_provider_tee(const char *provider)
{
	static const struct { const char *provider, *tee; } map[] = {
		{ "tdx_guest", "tdx" }, { "sev_guest", "snp" }, { "arm_cca_guest", "cca" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(provider, map[i].provider))
			return map[i].tee;
	return NULL;
}

static void job_release(struct tsm_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1)
		return;
	close(job->eventfd);
	free(job->entry);
	free(job->evidence);
	free(job);
}

/* ---- the worker: plain blocking file operations on the report entry ---- */

static int fail(struct tsm_job *job, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct tsm_job *job, int error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(job->message, sizeof(job->message), "configfs-tsm: ");
	vsnprintf(job->message + n, sizeof(job->message) - n, fmt, ap);
	va_end(ap);
	job->error = error;
	return -1;
}

/* Read a whole file (at most max bytes, NUL-terminated); -errno on failure, -EFBIG when larger. */
static ssize_t read_file(const char *path, uint8_t **out, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint8_t *buf = malloc(max + 1);
	size_t len = 0;
	ssize_t n = 0;
	while (buf && len <= max && (n = read(fd, buf + len, max + 1 - len)) > 0)
		len += n;
	int e = n < 0 ? errno : 0;
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (e || len > max) {
		free(buf);
		return e ? -e : -EFBIG;
	}
	buf[len] = 0;
	*out = buf;
	return len;
}

static ssize_t read_attr(const char *entry, const char *name, uint8_t **out, size_t max)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", entry, name);
	return read_file(path, out, max);
}

static int write_attr(const char *entry, const char *name, const uint8_t *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", entry, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* configfs takes a binary attribute in one write, applied at close. */
	ssize_t n = write(fd, data, len);
	int e = n < 0 ? errno : (size_t)n != len ? EIO : 0;
	if (close(fd) < 0 && !e)
		e = errno;
	return -e;
}

static int read_provider(struct tsm_job *job)
{
	uint8_t *text;
	ssize_t n = read_attr(job->entry, "provider", &text, 64);
	if (n < 0)
		return fail(job, (int)n, "cannot read %s/provider: %s", job->entry, strerror((int)-n));
	if (n > 0 && text[n - 1] == '\n')
		text[n - 1] = 0;
	job->tee = tsm_provider_tee((char *)text);
	if (!job->tee)
		fail(job, -ENOTSUP, "unknown provider '%s' (expected tdx_guest, sev_guest or arm_cca_guest)",
		     (char *)text);
	free(text);
	return job->tee ? 0 : -1;
}

static int check_generation(struct tsm_job *job)
{
	uint8_t *text;
	ssize_t n = read_attr(job->entry, "generation", &text, 32);
	if (n < 0)
		return fail(job, (int)n, "cannot read %s/generation: %s", job->entry, strerror((int)-n));
	char *end;
	unsigned long gen = strtoul((char *)text, &end, 10);
	int ok = end != (char *)text && (*end == '\n' || !*end);
	free(text);
	if (!ok)
		return fail(job, -EBADMSG, "malformed generation in %s", job->entry);
	if (gen != EXPECTED_GENERATION)
		return fail(job, -EBUSY, "another writer used report entry %s (generation %lu, expected %d)",
			    job->entry, gen, EXPECTED_GENERATION);
	return 0;
}

static char *base64_std(const uint8_t *data, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(cap);
	if (out)
		sodium_bin2base64(out, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

/* The evidence JSON of guest-components' attester for this TEE, which Trustee's verifier reads. */
static int wrap_evidence(struct tsm_job *job, const uint8_t *report, size_t len, const uint8_t *aux,
			 size_t aux_len)
{
	if (!strcmp(job->tee, "snp")) {
		char why[256];
		job->evidence = snp_evidence_json(report, len, aux, aux_len, why, sizeof(why));
		return job->evidence ? 0 : fail(job, -EBADMSG, "%s/outblob: %s", job->entry, why);
	}
	cJSON *ev = cJSON_CreateObject();
	if (!strcmp(job->tee, "tdx")) {
		/* {"cc_eventlog": base64 CCEL table or null, "quote": base64 TD quote} */
		uint8_t *ccel = NULL;
		ssize_t ccel_len = read_file(CCEL_PATH, &ccel, 16u << 20);
		char *ccel_b64 = ccel_len > 0 ? base64_std(ccel, ccel_len) : NULL;
		char *quote_b64 = base64_std(report, len);
		cJSON_AddItemToObject(ev, "cc_eventlog", ccel_b64 ? cJSON_CreateString(ccel_b64) : cJSON_CreateNull());
		cJSON_AddStringToObject(ev, "quote", quote_b64 ? quote_b64 : "");
		free(ccel);
		free(ccel_b64);
		free(quote_b64);
	} else {
		/* cca: {"token": [bytes as numbers]} */
		cJSON *token = cJSON_AddArrayToObject(ev, "token");
		for (size_t i = 0; token && i < len; i++)
			cJSON_AddItemToArray(token, cJSON_CreateNumber(report[i]));
	}
	job->evidence = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	return job->evidence ? 0 : fail(job, -ENOMEM, "out of memory");
}

/* SEV's certificate table, when the entry has one; NULL/0 otherwise. */
static ssize_t read_auxblob(struct tsm_job *job, uint8_t **aux)
{
	*aux = NULL;
	if (strcmp(job->tee, "snp"))
		return 0;
	ssize_t n = read_attr(job->entry, "auxblob", aux, OUTBLOB_MAX);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return fail(job, (int)n, "cannot read %s/auxblob: %s", job->entry, strerror((int)-n));
	return n;
}

static int produce_report(struct tsm_job *job)
{
	if (read_provider(job) < 0)
		return -1;
	/* As guest-components does: the report data field is 64 bytes, zero-padded. */
	uint8_t inblob[TSM_INBLOB_MAX] = { 0 };
	memcpy(inblob, job->inblob, job->inblob_len);
	int r = write_attr(job->entry, "inblob", inblob, sizeof(inblob));
	if (r < 0)
		return fail(job, r, "cannot write %s/inblob: %s", job->entry, strerror(-r));
	uint8_t *report, *aux = NULL;
	ssize_t n = read_attr(job->entry, "outblob", &report, OUTBLOB_MAX);
	if (n < 0)
		return fail(job, (int)n, "cannot read %s/outblob: %s", job->entry, strerror((int)-n));
	ssize_t aux_len = n == 0 ? fail(job, -ENODATA, "empty outblob in %s", job->entry) : read_auxblob(job, &aux);
	r = aux_len < 0 || check_generation(job) < 0 ? -1 : wrap_evidence(job, report, n, aux, aux_len);
	free(report);
	free(aux);
	return r;
}

static void *worker(void *arg)
{
	struct tsm_job *job = arg;
	if (mkdir(job->entry, 0700) < 0) {
		fail(job, -errno, "cannot create report entry %s: %s", job->entry, strerror(errno));
	} else {
		produce_report(job);
		/* configfs removes the attributes with the entry; elsewhere rmdir may fail harmlessly. */
		if (rmdir(job->entry) < 0)
			log_debug(LOG_SUB, "rmdir %s: %s", job->entry, strerror(errno));
	}
	uint64_t one = 1;
	if (write(job->eventfd, &one, sizeof(one)) < 0)
		log_warn(LOG_SUB, "eventfd: %s", strerror(errno));
	job_release(job);
	return NULL;
}

/* ---- the loop side ---- */

struct tsm_source *tsm_source_new(struct loop *loop, const char *report_dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(report_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "configfs-tsm: %s is not a directory (is configfs mounted and a TSM "
			 "provider loaded?)", report_dir);
		return NULL;
	}
	struct tsm_source *t = calloc(1, sizeof(*t));
	if (!t || !(t->dir = strdup(report_dir))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->loop = loop;
	return t;
}

void tsm_source_free(struct tsm_source *t)
{
	if (!t)
		return;
	free(t->dir);
	free(t);
}

static void request_end(struct tsm_request *req)
{
	struct loop *loop = req->src->loop;
	loop_timer_cancel(loop, &req->deadline);
	loop_unwatch(loop, req->job->eventfd);
	job_release(req->job);
	free(req);
}

static void on_job_done(void *ctx, int fd, unsigned events)
{
	struct tsm_request *req = ctx;
	struct tsm_job *job = req->job;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	struct evidence_result r = { .error = job->error, .message = job->message };
	if (!job->error) {
		r.message = NULL;
		r.tee = job->tee;
		r.evidence = (const uint8_t *)job->evidence;
		r.evidence_len = strlen(job->evidence);
	}
	evidence_done_fn done = req->done;
	void *done_ctx = req->ctx;
	/* Keep the job (and so r's buffers) alive through the callback. */
	atomic_fetch_add(&job->refs, 1);
	request_end(req);
	done(done_ctx, &r);
	job_release(job);
}

static void on_deadline(void *ctx)
{
	struct tsm_request *req = ctx;
	char msg[128];
	snprintf(msg, sizeof(msg), "configfs-tsm: no report within %.3g s",
		 (double)req->timeout_ns / NSEC_PER_SEC);
	struct evidence_result r = { .error = -ETIMEDOUT, .message = msg };
	evidence_done_fn done = req->done;
	void *done_ctx = req->ctx;
	request_end(req); /* the worker finishes on its own and frees the job */
	done(done_ctx, &r);
}

static struct tsm_job *job_new(struct tsm_source *t, const uint8_t *data, size_t len)
{
	struct tsm_job *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	atomic_init(&job->refs, 2);
	job->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (asprintf(&job->entry, "%s/tng-wg.%d.%u", t->dir, (int)getpid(),
		     atomic_fetch_add(&t->next_entry, 1)) < 0)
		job->entry = NULL;
	if (job->eventfd < 0 || !job->entry) {
		if (job->eventfd >= 0)
			close(job->eventfd);
		free(job->entry);
		free(job);
		return NULL;
	}
	if (len == 0 || len > TSM_INBLOB_MAX) {
		/* Refused before touching configfs; reported through the same path as any failure. */
		fail(job, -EINVAL, "runtime data of %zu bytes: inblob takes 1 to %d bytes", len, TSM_INBLOB_MAX);
	} else {
		memcpy(job->inblob, data, len);
		job->inblob_len = len;
	}
	return job;
}

struct tsm_request *tsm_source_get(struct tsm_source *t, const uint8_t *runtime_data, size_t len,
				   uint64_t deadline_ns, evidence_done_fn done, void *ctx)
{
	struct tsm_request *req = calloc(1, sizeof(*req));
	struct tsm_job *job = req ? job_new(t, runtime_data, len) : NULL;
	if (!job) {
		free(req);
		return NULL;
	}
	req->src = t;
	req->job = job;
	req->done = done;
	req->ctx = ctx;
	uint64_t now = loop_now_ns();
	req->timeout_ns = deadline_ns > now ? deadline_ns - now : 0;
	loop_timer_init(&req->deadline, on_deadline, req);
	if (loop_watch(t->loop, job->eventfd, LOOP_READ, on_job_done, req) < 0)
		goto fail;
	if (job->error) {
		/* Nothing for a worker to do: signal completion straight away. */
		uint64_t one = 1;
		if (write(job->eventfd, &one, sizeof(one)) < 0)
			goto fail;
		job_release(job); /* the worker's reference */
	} else {
		pthread_t tid;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int r = pthread_create(&tid, &attr, worker, job);
		pthread_attr_destroy(&attr);
		if (r) {
			log_error(LOG_SUB, "cannot start a worker thread: %s", strerror(r));
			goto fail;
		}
	}
	loop_timer_arm_at(t->loop, &req->deadline, deadline_ns);
	return req;
fail:
	loop_unwatch(t->loop, job->eventfd);
	close(job->eventfd);
	free(job->entry);
	free(job);
	free(req);
	return NULL;
}

void tsm_request_cancel(struct tsm_request *req)
{
	request_end(req);
}
