#include "common/log.h"
#include <cjson/cJSON.h>
#include "tests/unit/test.h"

#include <unistd.h>

TEST(a_message_with_control_characters_stays_one_line)
{
	int p[2];
	CHECK(pipe(p) == 0);
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	log_msg(LOG_WARN, "test", "from the AS: %s", "line one\nforged: line two\r\x1b[0m");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	char buf[512] = { 0 };
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	CHECK(n > 0);
	char *nl = strchr(buf, '\n');
	CHECK(nl && nl[1] == '\0'); /* exactly one line, ending the message */
	CHECK(strstr(buf, "line one?forged: line two??[0m") != NULL);
}

/* The lines log_event writes while f runs. */
static void capture(void (*f)(void), char *buf, size_t size)
{
	int p[2];
	CHECK(pipe(p) == 0);
	int saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	f();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	memset(buf, 0, size);
	ssize_t n = read(p[0], buf, size - 1);
	close(p[0]);
	CHECK(n > 0);
}

static const struct log_fields peer_fields = { .peer = "10.77.0.2", .state = "failed", .reason = "verification_failed" };

static void peer_event(void)
{
	log_event(LOG_WARN, "peer", &peer_fields, "AS said \"no\"\nsecond line \xff\xc3\xa9");
}

TEST(peer_events_carry_peer_state_and_reason)
{
	char buf[1024];
	log_set_json(0);
	capture(peer_event, buf, sizeof(buf));
	CHECK(strstr(buf, " warn  peer: 10.77.0.2 (failed, verification_failed): AS said \"no\"?second line") != NULL);
	log_set_json(1);
	capture(peer_event, buf, sizeof(buf));
	log_set_json(0);
	char *nl = strchr(buf, '\n');
	CHECK(nl && nl[1] == '\0');
	cJSON *o = cJSON_Parse(buf);
	CHECK(o != NULL);
	const char *want[][2] = { { "level", "warn" }, { "subsystem", "peer" }, { "peer", "10.77.0.2" },
				  { "state", "failed" }, { "reason", "verification_failed" },
				  { "message", "AS said \"no\"?second line ?\xc3\xa9" } };
	for (size_t i = 0; o && i < sizeof(want) / sizeof(want[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, want[i][0]);
		CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, want[i][1]));
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
	CHECK(cJSON_IsString(t) && strlen(t->valuestring) == 24 && t->valuestring[23] == 'Z');
	cJSON_Delete(o);
}

int main(void)
{
	TEST_BEGIN("log");
	RUN(a_message_with_control_characters_stays_one_line);
	RUN(peer_events_carry_peer_state_and_reason);
	TEST_END();
}
