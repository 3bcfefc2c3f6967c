import { describe, expect, it } from 'vitest';
import {
  SAMPLE_CHALLENGES,
  SAMPLE_STREAMS,
  sampleChallengeStatus,
  sampleComments,
  sampleStreams,
} from '../../../lib/local/gigya-comments.ts';

describe("the emulator's sample comments", () => {
  it('counts on each stream the comments and threads that name it', () => {
    // Prepare
    const comments = sampleComments();

    // Act
    const streams = sampleStreams();

    // Assess
    expect(streams).toHaveLength(SAMPLE_STREAMS);
    for (const s of streams) {
      const own = comments.filter((c) => c.streamId === s.streamID);
      expect(s.commentCount).toBe(own.length);
      expect(s.threadCount).toBe(own.filter((c) => c.parentID === undefined).length);
      expect(s.lastCommentTimestamp).toBe(own.at(-1)?.timestamp);
    }
  });

  it('gives every comment a unique 32-hex ID, a thread in its own stream and a time after its stream was created', () => {
    // Prepare
    const created = new Map(sampleStreams().map((s) => [s.streamID, s.createDate as number]));

    // Act
    const comments = sampleComments();

    // Assess
    const byId = new Map(comments.map((c) => [c.ID, c]));
    expect(byId.size).toBe(comments.length);
    expect(comments.length).toBeGreaterThan(1000);
    const wrong = comments.filter(
      (c) =>
        !/^[0-9a-f]{32}$/.test(c.ID as string) ||
        byId.get(c.threadID)?.streamId !== c.streamId ||
        (c.parentID !== undefined && c.parentID !== c.threadID) ||
        (c.timestamp as number) <= (created.get(c.streamId) as number),
    );
    expect(wrong).toEqual([]);
  });

  it('is the same on every call', () => {
    // Act
    const again = [sampleStreams(), sampleComments(), sampleChallengeStatus('some-uid')];

    // Assess
    expect(again).toEqual([sampleStreams(), sampleComments(), sampleChallengeStatus('some-uid')]);
  });
});

describe("the emulator's sample Game Mechanics statuses", () => {
  it('puts accounts in some of the configured challenges at one of their levels, and some in none', () => {
    // Prepare
    const uids = Array.from({ length: 200 }, (_, i) => `uid-${i}`);

    // Act
    const statuses = uids.map((u) => sampleChallengeStatus(u));

    // Assess
    expect(statuses.filter((s) => s.length === 0).length).toBeGreaterThan(10);
    for (const s of statuses.flat()) {
      const challenge = SAMPLE_CHALLENGES.find((c) => c.challengeID === s.challengeID);
      expect(challenge?.levels[s.level as number]).toBe(s.levelTitle);
    }
  });
});
