import { describe, expect, it } from 'vitest';
import { GENERATED_ITEMS, isGeneratedItem } from './generated.ts';

describe('isGeneratedItem', () => {
  it('knows the three generated items by metadata path or absolute path', () => {
    for (const item of GENERATED_ITEMS) {
      expect(isGeneratedItem(item)).toBe(true);
      expect(isGeneratedItem(`/${item}`)).toBe(true);
    }
  });

  it('does not take a host file for one, wherever it lies or however it is suffixed', () => {
    expect(isGeneratedItem('srv/app/environment.config')).toBe(false);
    expect(isGeneratedItem('environment.config.config')).toBe(false);
    expect(isGeneratedItem('dependencies')).toBe(false);
  });
});
