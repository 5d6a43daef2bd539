// Types of @ferrocast/recovery.
import type Pusher from 'pusher-js';
import type { Channel } from 'pusher-js';

export interface Position {
  epoch: string;
  offset: number;
}

export interface EventMeta extends Position {
  id: string;
  user_id?: string;
}

export declare class RecoverableChannel {
  readonly name: string;
  /** The pusher-js channel: members, trigger, pusher:subscription_* events. */
  readonly channel: Channel;
  /** The last position seen, or null before the first subscription. */
  readonly position: Position | null;
  bind(event: string, callback: (data: any, meta: EventMeta) => void): this;
  bind(event: 'ferrocast:recovered' | 'ferrocast:reset', callback: (position: Position) => void): this;
  unbind(event: string, callback?: Function): this;
}

export declare class Recovery {
  constructor(pusher: Pusher, options?: { maxIds?: number; positions?: Record<string, Position> });
  subscribe(name: string): RecoverableChannel;
  unsubscribe(name: string): void;
  positions(): Record<string, Position>;
}

export declare function withRecovery(
  pusher: Pusher,
  options?: { maxIds?: number; positions?: Record<string, Position> },
): Recovery;
