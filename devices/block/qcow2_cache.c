/* qcow2 metadata caches: a few cluster-sized tables (L2 tables, refcount blocks), LRU, write-back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/block/qcow2_int.h"

int qcow2_cache_init(struct qcow2_cache *c, unsigned count, uint64_t cluster_size, bool is_l2)
{
	*c = (struct qcow2_cache){ .count = count, .is_l2 = is_l2 };
	c->entries = calloc(count, sizeof(*c->entries));
	if (!c->entries)
		return -ENOMEM;
	(void)cluster_size; /* tables are allocated on first use: a long chain stays small */
	return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	if (!c->entries)
		return;
	for (unsigned i = 0; i < c->count; i++)
		free(c->entries[i].data);
	free(c->entries);
	c->entries = NULL;
}

static struct qcow2_cache_entry *entry_of(struct qcow2_cache *c, const uint8_t *table)
{
	for (unsigned i = 0; i < c->count; i++)
		if (c->entries[i].data == table)
			return &c->entries[i];
	return NULL;
}

static int write_entry(struct qcow2 *q, struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	int r;

	if (!e->dirty)
		return 0;
	if (c->is_l2) {
		/* Ordering: what the table points to (refcounts, data) is durable first. */
		r = qcow2_barrier(q);
		if (r < 0)
			return r;
	}
	r = qcow2_pwrite_full(q, e->data, q->cluster_size, e->offset);
	if (r < 0)
		return r;
	e->dirty = false;
	return 0;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool read,
		    uint8_t **table)
{
	struct qcow2_cache_entry *victim = NULL;
	int r;

	for (unsigned i = 0; i < c->count; i++) {
		struct qcow2_cache_entry *e = &c->entries[i];

		if (e->offset == off) {
			e->lru = ++c->clock;
			if (!read) {
				memset(e->data, 0, q->cluster_size);
				e->dirty = true;
			}
			*table = e->data;
			return 0;
		}
		if (!victim || e->offset == 0 || (victim->offset && e->lru < victim->lru))
			victim = e;
	}
	if (victim->offset) {
		r = write_entry(q, c, victim);
		if (r < 0)
			return r;
	}
	victim->offset = 0;
	if (!victim->data) {
		victim->data = malloc(q->cluster_size);
		if (!victim->data)
			return -ENOMEM;
	}
	if (read) {
		r = qcow2_pread_full(q, victim->data, q->cluster_size, off);
		if (r < 0)
			return r;
	} else {
		memset(victim->data, 0, q->cluster_size);
	}
	victim->offset = off;
	victim->dirty = !read;
	victim->lru = ++c->clock;
	*table = victim->data;
	return 0;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, const uint8_t *table)
{
	struct qcow2_cache_entry *e = entry_of(c, table);

	if (e)
		e->dirty = true;
}

int qcow2_cache_write_table(struct qcow2 *q, struct qcow2_cache *c, const uint8_t *table)
{
	struct qcow2_cache_entry *e = entry_of(c, table);

	return e ? write_entry(q, c, e) : 0;
}

int qcow2_cache_flush(struct qcow2 *q, struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->count; i++) {
		struct qcow2_cache_entry *e = &c->entries[i];

		if (e->offset && e->dirty) {
			int r = write_entry(q, c, e);

			if (r < 0)
				return r;
		}
	}
	return 0;
}
