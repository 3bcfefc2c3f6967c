import { describe, expect, it } from 'vitest';
import { Redactor, redactValues } from '../../../lib/core/secrets.ts';

describe('redactValues', () => {
  it('masks secret values in every string at any depth and leaves the input as it was', () => {
    // Prepare
    const redactor = new Redactor();
    redactor.add('sftp.hidden.example');
    const input = {
      code: 'IDX_SFTP_AUTH',
      message: 'login to sftp.hidden.example refused',
      details: { hosts: ['sftp.hidden.example:22', 'other'], port: 22, ok: false, none: null },
    };

    // Act
    const masked = redactValues(input, redactor);

    // Assess
    expect(masked).toEqual({
      code: 'IDX_SFTP_AUTH',
      message: 'login to *** refused',
      details: { hosts: ['***:22', 'other'], port: 22, ok: false, none: null },
    });
    expect(input.message).toBe('login to sftp.hidden.example refused');
  });

  it('masks a value nested deeper than the call stack would allow', () => {
    // Prepare
    const redactor = new Redactor();
    redactor.add('s3cr3t-value');
    let deep: Record<string, unknown> = { leaf: 'has s3cr3t-value' };
    for (let i = 0; i < 100_000; i++) deep = { inner: deep };

    // Act
    let masked = redactValues(deep, redactor);

    // Assess
    for (let i = 0; i < 100_000; i++) masked = masked.inner as Record<string, unknown>;
    expect(masked).toEqual({ leaf: 'has ***' });
  });
});
