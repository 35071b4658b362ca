import { DynamicModule, Global, Module } from '@nestjs/common';
import { CONFIG, LetheConfig, loadConfig } from './config.js';

/** Provides the frozen LetheConfig under the {@link CONFIG} token, everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: LetheConfig = loadConfig()): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: CONFIG, useValue: config }], exports: [CONFIG] };
  }
}
