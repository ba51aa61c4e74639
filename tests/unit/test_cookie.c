/* MAC1/MAC2 and cookie replies between a real checker and maker. */
#include "overlay/cookie.h"
#include "overlay/crypto.h"
#include "overlay/noise.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#define SEC 1000000000ULL
#define T0 (5000 * SEC)

static struct sockaddr_in v4(const char *addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, addr, &sa.sin_addr);
	return sa;
}

static struct sockaddr_in6 v6(const char *addr, uint16_t port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	inet_pton(AF_INET6, addr, &sa.sin6_addr);
	return sa;
}

/* A responder identity with its checker, and the initiator's maker for it. */
struct setup {
	struct noise_identity responder;
	struct cookie_checker checker;
	struct cookie_maker maker;
	struct msg_initiation msg;
};

static void setup(struct setup *s)
{
	uint8_t sk[WG_KEY_LEN];
	wg_generate_private_key(sk);
	noise_identity_set(&s->responder, sk);
	cookie_checker_init(&s->checker, s->responder.public_key);
	cookie_maker_init(&s->maker, s->responder.public_key);
	/* Any initiation-sized body; the MACs do not look inside. */
	randombytes_buf(&s->msg, sizeof(s->msg));
	s->msg.type = MSG_INITIATION;
}

static enum cookie_mac_state validate(struct setup *s, const void *src, uint64_t now)
{
	return cookie_validate(&s->checker, &s->msg, sizeof(s->msg), src, now);
}

/* The maker MACs its message, the checker answers with a cookie for src, the maker takes it. */
static bool give_cookie(struct setup *s, const void *src, uint64_t now)
{
	struct msg_cookie_reply reply;
	cookie_add_macs(&s->maker, &s->msg, sizeof(s->msg), now);
	return cookie_create_reply(&s->checker, &reply, &s->msg, sizeof(s->msg), 1, src, now) &&
	       cookie_consume_reply(&s->maker, &reply, now);
}

TEST(mac1_key_of_the_demo_server)
{
	uint8_t server[WG_KEY_LEN], want[WG_HASH_LEN];
	size_t len = 0;
	const char *b64 = "qRCwZSKInrMAq5sepfCdaCsRJaoLe5jhtzfiw7CjbwM=";
	CHECK(sodium_base642bin(server, sizeof(server), b64, strlen(b64), NULL, &len, NULL,
				sodium_base64_VARIANT_ORIGINAL) == 0 && len == WG_KEY_LEN);
	CHECK(test_unhex("7ccc05694f3c4fb7c383cae322fd5fae68cb243e5e4c1eaf23b289aee3b493a7", want, sizeof(want)) == 0);

	struct cookie_maker cm;
	struct cookie_checker cc;
	cookie_maker_init(&cm, server);
	cookie_checker_init(&cc, server);
	CHECK_MEM(cm.mac1_key, want, sizeof(want));
	CHECK_MEM(cc.mac1_key, want, sizeof(want));
	/* The cookie key is HASH("cookie--" || K), a different value. */
	uint8_t cookie_key[WG_HASH_LEN];
	wg_hash(cookie_key, "cookie--", 8, server, sizeof(server));
	CHECK_MEM(cm.cookie_decryption_key, cookie_key, sizeof(cookie_key));
	CHECK_MEM(cc.cookie_encryption_key, cookie_key, sizeof(cookie_key));
}

TEST(mac1_validates_and_a_flipped_bit_does_not)
{
	struct setup s;
	struct sockaddr_in src = v4("10.1.2.3", 51820);
	setup(&s);
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0);
	CHECK(sodium_is_zero(s.msg.mac2, WG_MAC_LEN)); /* no cookie yet */
	CHECK(validate(&s, &src, T0) == COOKIE_MAC_VALID_MAC1);

	for (size_t bit = 0; bit < 8 * (sizeof(s.msg) - WG_MAC_LEN); bit += 97) {
		((uint8_t *)&s.msg)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (validate(&s, &src, T0) != COOKIE_MAC_INVALID) {
			fprintf(stderr, "  flipped bit %zu still valid\n", bit);
			test_case_failed = 1;
		}
		((uint8_t *)&s.msg)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK(validate(&s, &src, T0) == COOKIE_MAC_VALID_MAC1);

	/* mac1 for another recipient is not valid here. */
	struct setup other;
	setup(&other);
	cookie_add_macs(&other.maker, &s.msg, sizeof(s.msg), T0);
	CHECK(validate(&s, &src, T0) == COOKIE_MAC_INVALID);
	/* Too short to hold the MACs. */
	CHECK(cookie_validate(&s.checker, &s.msg, 2 * WG_MAC_LEN, (struct sockaddr *)&src, T0) == COOKIE_MAC_INVALID);
}

TEST(cookie_reply_round_trip_gives_valid_mac2)
{
	struct setup s;
	struct sockaddr_in src = v4("10.1.2.3", 51820), other_port = v4("10.1.2.3", 51821);
	struct msg_cookie_reply reply;
	setup(&s);
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0);
	CHECK(validate(&s, &src, T0) == COOKIE_MAC_VALID_MAC1);

	CHECK(cookie_create_reply(&s.checker, &reply, &s.msg, sizeof(s.msg), 0xabcdef01, (struct sockaddr *)&src, T0));
	CHECK(reply.type == MSG_COOKIE_REPLY && reply.receiver_index == 0xabcdef01);
	CHECK(cookie_consume_reply(&s.maker, &reply, T0 + SEC));
	CHECK(s.maker.has_cookie);

	/* The next message carries mac2, valid from the same address and port only. */
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0 + 2 * SEC);
	CHECK(!sodium_is_zero(s.msg.mac2, WG_MAC_LEN));
	CHECK(validate(&s, &src, T0 + 2 * SEC) == COOKIE_MAC_VALID_MAC1_AND_MAC2);
	CHECK(validate(&s, &other_port, T0 + 2 * SEC) == COOKIE_MAC_VALID_MAC1);
	s.msg.mac2[0] ^= 1;
	CHECK(validate(&s, &src, T0 + 2 * SEC) == COOKIE_MAC_VALID_MAC1);
}

TEST(cookie_over_ipv6_is_bound_to_the_address)
{
	struct setup s;
	struct sockaddr_in6 src = v6("fd00::1", 9000), other = v6("fd00::2", 9000);
	setup(&s);
	CHECK(give_cookie(&s, &src, T0));
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0);
	CHECK(validate(&s, &src, T0) == COOKIE_MAC_VALID_MAC1_AND_MAC2);
	CHECK(validate(&s, &other, T0) == COOKIE_MAC_VALID_MAC1);
}

TEST(reply_without_a_sent_mac1_is_refused)
{
	struct setup s;
	struct sockaddr_in src = v4("192.0.2.7", 4000);
	struct msg_cookie_reply reply;
	setup(&s);
	/* The checker answers a message this maker never MACed. */
	CHECK(cookie_create_reply(&s.checker, &reply, &s.msg, sizeof(s.msg), 1, (struct sockaddr *)&src, T0));
	CHECK(!cookie_consume_reply(&s.maker, &reply, T0));
	CHECK(!s.maker.has_cookie);

	/* A reply to an earlier message than the last one sent is refused too. */
	struct msg_initiation first;
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0);
	first = s.msg;
	s.msg.sender_index ^= 1;
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0);
	CHECK(cookie_create_reply(&s.checker, &reply, &first, sizeof(first), 1, (struct sockaddr *)&src, T0));
	CHECK(!cookie_consume_reply(&s.maker, &reply, T0));

	/* The right one is accepted once; tampering is refused. */
	CHECK(cookie_create_reply(&s.checker, &reply, &s.msg, sizeof(s.msg), 1, (struct sockaddr *)&src, T0));
	struct msg_cookie_reply bad = reply;
	bad.encrypted_cookie[3] ^= 1;
	CHECK(!cookie_consume_reply(&s.maker, &bad, T0));
	bad = reply;
	bad.nonce[0] ^= 1;
	CHECK(!cookie_consume_reply(&s.maker, &bad, T0));
	CHECK(cookie_consume_reply(&s.maker, &reply, T0));
	CHECK(!cookie_consume_reply(&s.maker, &reply, T0));
	CHECK(!cookie_create_reply(&s.checker, &reply, &s.msg, 2 * WG_MAC_LEN, 1, (struct sockaddr *)&src, T0));
}

TEST(expired_cookie_is_not_used)
{
	struct setup s;
	struct sockaddr_in src = v4("10.9.9.9", 1234);
	setup(&s);
	CHECK(give_cookie(&s, &src, T0));

	/* Used for 120 - 5 s after it arrived. */
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0 + 114 * SEC);
	CHECK(!sodium_is_zero(s.msg.mac2, WG_MAC_LEN));
	CHECK(validate(&s, &src, T0 + 114 * SEC) == COOKIE_MAC_VALID_MAC1_AND_MAC2);
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0 + 115 * SEC);
	CHECK(sodium_is_zero(s.msg.mac2, WG_MAC_LEN));
	CHECK(!s.maker.has_cookie);
	CHECK(validate(&s, &src, T0 + 115 * SEC) == COOKIE_MAC_VALID_MAC1);
}

TEST(secret_rotates_after_120s)
{
	struct setup s;
	struct sockaddr_in src = v4("10.9.9.9", 1234);
	setup(&s);
	CHECK(give_cookie(&s, &src, T0));
	uint8_t secret[WG_HASH_LEN];
	memcpy(secret, s.checker.secret, sizeof(secret));
	cookie_add_macs(&s.maker, &s.msg, sizeof(s.msg), T0 + 100 * SEC);
	CHECK(validate(&s, &src, T0 + 119 * SEC) == COOKIE_MAC_VALID_MAC1_AND_MAC2);
	CHECK_MEM(secret, s.checker.secret, sizeof(secret));
	/* The maker would still use its cookie, but the checker has a new secret. */
	CHECK(validate(&s, &src, T0 + 120 * SEC) == COOKIE_MAC_VALID_MAC1);
	CHECK(memcmp(secret, s.checker.secret, sizeof(secret)) != 0);
}

TEST(response_sized_messages)
{
	struct setup s;
	struct msg_response resp;
	struct sockaddr_in src = v4("10.0.0.2", 5555);
	setup(&s);
	randombytes_buf(&resp, sizeof(resp));
	cookie_add_macs(&s.maker, &resp, sizeof(resp), T0);
	CHECK(cookie_validate(&s.checker, &resp, sizeof(resp), (struct sockaddr *)&src, T0) == COOKIE_MAC_VALID_MAC1);
	CHECK_MEM(s.maker.last_mac1_sent, resp.mac1, WG_MAC_LEN);
	resp.receiver_index ^= 1;
	CHECK(cookie_validate(&s.checker, &resp, sizeof(resp), (struct sockaddr *)&src, T0) == COOKIE_MAC_INVALID);
}

TEST(wipes_clear_everything)
{
	struct setup s;
	setup(&s);
	cookie_checker_wipe(&s.checker);
	cookie_maker_wipe(&s.maker);
	CHECK(sodium_is_zero((const unsigned char *)&s.checker, sizeof(s.checker)));
	CHECK(sodium_is_zero((const unsigned char *)&s.maker, sizeof(s.maker)));
}

int main(void)
{
	TEST_BEGIN("cookie");
	RUN(mac1_key_of_the_demo_server);
	RUN(mac1_validates_and_a_flipped_bit_does_not);
	RUN(cookie_reply_round_trip_gives_valid_mac2);
	RUN(cookie_over_ipv6_is_bound_to_the_address);
	RUN(reply_without_a_sent_mac1_is_refused);
	RUN(expired_cookie_is_not_used);
	RUN(secret_rotates_after_120s);
	RUN(response_sized_messages);
	RUN(wipes_clear_everything);
	TEST_END();
}
