#include "overlay/index.h"

#include <sodium.h>
#include <stdlib.h>

#define INDEX_BUCKETS (1u << 13)

struct index_table {
	struct index_entry *buckets[INDEX_BUCKETS];
};

struct index_table *index_table_new(void)
{
	return calloc(1, sizeof(struct index_table));
}

void index_table_free(struct index_table *t)
{
	free(t);
}

static struct index_entry **bucket_of(const struct index_table *t, uint32_t index)
{
	/* Indices are uniformly random, so their low bits spread evenly. */
	return (struct index_entry **)&t->buckets[index & (INDEX_BUCKETS - 1)];
}

struct index_entry *index_table_lookup(const struct index_table *t, uint32_t index)
{
	for (struct index_entry *e = *bucket_of(t, index); e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

void index_table_remove(struct index_table *t, struct index_entry *e)
{
	if (!e->linked)
		return;
	for (struct index_entry **p = bucket_of(t, e->index); *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			break;
		}
	}
	e->next = NULL;
	e->linked = 0;
}

uint32_t index_table_insert(struct index_table *t, struct index_entry *e)
{
	index_table_remove(t, e);
	uint32_t index;
	do
		index = randombytes_random();
	while (index_table_lookup(t, index));
	e->index = index;
	struct index_entry **b = bucket_of(t, index);
	e->next = *b;
	*b = e;
	e->linked = 1;
	return index;
}

void index_table_replace(struct index_table *t, struct index_entry *old_entry, struct index_entry *new_entry)
{
	index_table_remove(t, new_entry);
	if (!old_entry->linked)
		return;
	struct index_entry **b = bucket_of(t, old_entry->index);
	for (struct index_entry **p = b; *p; p = &(*p)->next) {
		if (*p == old_entry) {
			*p = new_entry;
			break;
		}
	}
	new_entry->index = old_entry->index;
	new_entry->next = old_entry->next;
	new_entry->linked = 1;
	old_entry->next = NULL;
	old_entry->linked = 0;
}
