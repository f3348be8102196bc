/*
 * queue.c — a mutex and a condition variable around a linked list. The
 * pipeline's consumers take everything waiting at once, so one lock round
 * trip moves a whole batch under load.
 */
#include "server/queue.h"

#include <errno.h>
#include <time.h>

void pal_queue_init(pal_queue *queue)
{
    pthread_condattr_t attr;
    pthread_mutex_init(&queue->mutex, NULL);
    pthread_condattr_init(&attr);
    /* timed waits on the monotonic clock: a wall-clock jump must not stall them */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&queue->cond, &attr);
    pthread_condattr_destroy(&attr);
    queue->head = queue->tail = NULL;
    queue->length = 0;
    queue->closed = false;
}

void pal_queue_destroy(pal_queue *queue)
{
    pthread_cond_destroy(&queue->cond);
    pthread_mutex_destroy(&queue->mutex);
}

void pal_queue_push_chain(pal_queue *queue, pal_qitem *first, pal_qitem *last, size_t count)
{
    last->next = NULL;
    pthread_mutex_lock(&queue->mutex);
    if (queue->tail)
        queue->tail->next = first;
    else
        queue->head = first;
    queue->tail = last;
    queue->length += count;
    pthread_cond_signal(&queue->cond);
    pthread_mutex_unlock(&queue->mutex);
}

void pal_queue_push(pal_queue *queue, pal_qitem *item)
{
    pal_queue_push_chain(queue, item, item, 1);
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

pal_qitem *pal_queue_pop(pal_queue *queue, size_t max, int timeout_ms, bool *closed)
{
    struct timespec deadline;
    pal_qitem *first = NULL;
    if (timeout_ms >= 0)
        deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&queue->mutex);
    while (!queue->head && !queue->closed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&queue->cond, &queue->mutex);
        } else if (pthread_cond_timedwait(&queue->cond, &queue->mutex, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (closed)
        *closed = queue->closed && !queue->head;
    if (queue->head) {
        pal_qitem *last = queue->head;
        size_t n = 1;
        while (n < max && last->next) {
            last = last->next;
            n++;
        }
        first = queue->head;
        queue->head = last->next;
        if (!queue->head)
            queue->tail = NULL;
        queue->length -= n;
        last->next = NULL;
    }
    pthread_mutex_unlock(&queue->mutex);
    return first;
}

void pal_queue_close(pal_queue *queue)
{
    pthread_mutex_lock(&queue->mutex);
    queue->closed = true;
    pthread_cond_broadcast(&queue->cond);
    pthread_mutex_unlock(&queue->mutex);
}

size_t pal_queue_length(pal_queue *queue)
{
    pthread_mutex_lock(&queue->mutex);
    size_t n = queue->length;
    pthread_mutex_unlock(&queue->mutex);
    return n;
}
