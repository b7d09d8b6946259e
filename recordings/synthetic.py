"""Synthetic transcripts of hotline calls, for scale benchmarks (`hotline db seed`).

Plain data in, plain data out: for an answered call, the rows of its recording, its transcript
and its segments, in Chinese as vosk's Chinese models give it (words separated by spaces, no
punctuation), with word timings. The caller's complaint is drawn from problems and places of
very different frequency, so that a search for one two-character word matches many calls and
another only a few, as in a real archive.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from hotline.synthetic import Answered
from recordings.audio import AGENT, CALLER
from recordings.search import bigrams, searchable

MODEL = "vosk-model-cn-0.22"
# Two-character problems, most common first (weights fall off as 1/rank).
PROBLEMS = ("噪音", "垃圾", "停水", "路灯", "井盖", "占道", "漏水", "油烟", "停车", "违建", "积水", "绿化",
            "供暖", "电梯", "广告", "扬尘", "拆迁", "物业", "摊贩", "公交", "养犬", "排污", "树木", "信号")
PLACES = ("中山路", "人民公园", "解放大道", "滨江小区", "火车站", "新华街", "建设路", "幸福里", "青山湖",
          "红谷滩", "八一广场", "北京西路", "阳明路", "昌北机场", "胜利路", "象湖", "朝阳新城", "高新区")
GREETING = "您好 这里 是 {hotline} 热线 请问 有 什么 可以 帮 您"
COMPLAINTS = (
    "我 要 投诉 {place} 的 {problem} 问题",
    "{place} 这边 {problem} 很 严重 已经 好几 天 了",
    "我 想 反映 一下 {place} 附近 的 {problem}",
    "请问 {place} 的 {problem} 什么 时候 能 处理",
)
REPLIES = (
    "好的 请问 具体 位置 在 哪里",
    "明白 我们 会 转 给 相关 部门 处理",
    "请 留 一下 您 的 联系 电话",
    "这个 问题 我们 已经 记录 了 三 个 工作日 内 回复 您",
)
DETAILS = (
    "就 在 路口 旁边 晚上 特别 明显",
    "我 的 电话 就是 现在 这个 号码",
    "希望 尽快 处理 谢谢",
    "上 个 月 也 打 过 电话 还是 没有 解决",
)
_RANKS = [1 / rank for rank in range(1, len(PROBLEMS) + 1)]


def _words(rng: random.Random, text: str, start: float) -> tuple[list[dict[str, Any]], float]:
    """vosk-style word dicts for `text` from `start`; returns them and where they end."""
    words, at = [], start
    for word in text.split():
        length = 0.2 + 0.15 * len(word) + rng.random() * 0.1
        words.append({"word": word, "start": round(at, 2), "end": round(at + length, 2),
                      "conf": round(0.75 + rng.random() * 0.25, 3)})
        at += length + 0.05
    return words, at


def transcript(rng: random.Random, call: Answered, ids: dict[str, int]) -> dict[str, Any]:
    """The recording, transcript and segment rows of `call`, with ids from `ids` (next id per
    table), which are advanced."""
    problem = rng.choices(PROBLEMS, _RANKS)[0]
    place = rng.choice(PLACES)
    turns = [(AGENT, GREETING.format(hotline=call.hotline)),
             (CALLER, rng.choice(COMPLAINTS).format(place=place, problem=problem))]
    for _ in range(rng.randrange(3)):
        turns += [(AGENT, rng.choice(REPLIES)), (CALLER, rng.choice(DETAILS))]
    recording_id, transcript_id = ids["recordings"], ids["transcripts"]
    ids["recordings"] += 1
    ids["transcripts"] += 1
    segments, at = [], 0.5
    for speaker, text in turns:
        words, end = _words(rng, text, at)
        segments.append({
            "id": ids["transcript_segments"], "transcript_id": transcript_id, "speaker": speaker,
            "start": words[0]["start"], "end": words[-1]["end"], "text": text,
            "search_text": searchable(text), "search_pairs": bigrams(searchable(text)),
            "call_started_at": call.started_at, "words": words,
        })
        ids["transcript_segments"] += 1
        at = end + 0.8
    ended_at = call.started_at + timedelta(seconds=call.talk_seconds)
    duration = max(call.talk_seconds, at)
    return {
        "recording": {
            "id": recording_id, "call_id": call.id, "source": f"/var/spool/asterisk/monitor/seed-{call.id}.wav",
            "path": f"{call.started_at:%Y/%m/%d}/{call.id}.wav", "caller_path": None, "agent_path": None,
            "format": "pcm", "sample_rate": 8000, "channels": 1, "duration_seconds": duration,
            "size_bytes": 44 + int(duration * 16000), "sha256": f"{rng.getrandbits(256):064x}",
            "condition": "ok", "problem": None, "recorded_at": call.started_at,
            "ingested_at": ended_at + timedelta(seconds=5), "legal_hold": False, "hold_reason": None,
            "deleted_at": None,
        },
        "transcript": {
            "id": transcript_id, "recording_id": recording_id, "model": MODEL,
            "text": " ".join(text for _, text in turns), "audio_seconds": duration,
            "processing_seconds": round(duration / 8, 2), "worker": "seed",
            "created_at": ended_at + timedelta(seconds=60),
        },
        "segments": segments,
    }
