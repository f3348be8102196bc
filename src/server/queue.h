/*
 * queue.h — an unbounded FIFO of intrusive items between threads.
 *
 * Items carry their own link (a `pal_qitem` first member, or anywhere: the
 * queue only touches the link), so pushing never allocates. Bounds are the
 * caller's business (the pipeline counts what it has in flight).
 *
 * Threads: every function is thread-safe; any number of producers and
 * consumers.
 */
#ifndef PAL_SERVER_QUEUE_H
#define PAL_SERVER_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pal_qitem {
    struct pal_qitem *next;
} pal_qitem;

typedef struct pal_queue {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    pal_qitem *head, *tail;
    size_t length;
    bool closed;
} pal_queue;

void pal_queue_init(pal_queue *queue);
/* The queue must be empty or its items owned elsewhere. */
void pal_queue_destroy(pal_queue *queue);

/* Appends item (the queue borrows it until it is popped). */
void pal_queue_push(pal_queue *queue, pal_qitem *item);
/* Appends a chain of items linked by next, ending at last. */
void pal_queue_push_chain(pal_queue *queue, pal_qitem *first, pal_qitem *last, size_t count);

/* Takes up to max items in FIFO order as a chain (NULL-terminated), waiting
 * up to timeout_ms (< 0: forever) for the first one. NULL on timeout, or
 * when the queue is closed and empty (*closed then true when not NULL). */
pal_qitem *pal_queue_pop(pal_queue *queue, size_t max, int timeout_ms, bool *closed);

/* Wakes every waiter; pops return what is left, then NULL. */
void pal_queue_close(pal_queue *queue);
size_t pal_queue_length(pal_queue *queue);

#endif
