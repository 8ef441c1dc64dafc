"""Micro-batching: requests that arrive together are tagged in one batch, by one worker thread.

Each request is a job (its texts) on a bounded asyncio queue. The worker takes the first job and every job that
already waits (they gather while the tagger is busy), up to ``max_batch`` documents (a larger job goes alone); when
the last batch held several requests (clients are concurrent) it also waits up to ``max_wait_ms`` for more, when it
held one it does not wait (a lone client is never delayed). It then segments and tags them all in one
``Tagger.tag_documents`` call in its thread and hands each request its own documents (ids 0..n-1). A sentence's tags
and entities do not depend on the sentences tagged beside it; a classic model's entity score can move in its 4th
decimal (float32 log-space arithmetic of the CRF posterior, as in ``zsner tag`` over a file). A request that timed
out is dropped from a batch that has not started.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..tagging.document import Document


class Busy(Exception):
    """The queue is full."""


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future


class MicroBatcher:
    def __init__(self, tagger, max_batch: int = 64, max_wait_ms: float = 5.0, max_queue: int = 1024):
        self.tagger, self.max_batch, self.max_wait = tagger, max_batch, max_wait_ms / 1000
        self.max_queue = max_queue
        self.running = False
        self.batches = 0  # batches tagged so far (and documents in them): for /health and the tests
        self.documents = 0

    async def start(self) -> None:
        self._queue: asyncio.Queue = asyncio.Queue(self.max_queue)
        self._held: _Job | None = None  # a job that did not fit in the last batch: the next one's first
        self._concurrent = False  # the last batch held more than one request
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="zsner-tagger")
        self._worker = asyncio.create_task(self._run())
        self.running = True

    async def stop(self) -> None:
        self.running = False
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        self._executor.shutdown(wait=True)

    async def tag(self, texts: list[str]) -> list[Document]:
        """The tagged documents of ``texts`` (``Busy`` when the queue is full). A caller cancelled while it waits
        (its request timed out) cancels its job: a batch that has not started skips it."""
        job = _Job(texts, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Busy from None
        return await job.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather(loop)
            batch = [job for job in batch if not job.future.done()]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._tag, [job.texts for job in batch])
            except Exception as err:  # a bug, not a request's fault: those requests get a 500, the server goes on
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            self.batches += 1
            self.documents += sum(len(documents) for documents in results)
            for job, documents in zip(batch, results):
                if not job.future.done():
                    job.future.set_result(documents)

    async def _gather(self, loop) -> list[_Job]:
        first, self._held = self._held or await self._queue.get(), None
        batch, count = [first], len(first.texts)
        deadline = loop.time() + (self.max_wait if self._concurrent else 0.0)
        while count < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if count + len(job.texts) > self.max_batch:
                self._held = job
                break
            batch.append(job)
            count += len(job.texts)
        self._concurrent = len(batch) > 1
        return batch

    def _tag(self, requests: list[list[str]]) -> list[list[Document]]:
        """In the worker thread: every request's documents, segmented and tagged together."""
        documents = [[self.tagger.make_document(text, index) for index, text in enumerate(texts)]
                     for texts in requests]
        for _ in self.tagger.tag_documents([document for group in documents for document in group]):
            pass
        return documents
