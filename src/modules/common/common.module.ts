import { Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ErrorFilter } from './error.filter.js';

/** The error shape for every route (the global validation pipe is set in main.ts). */
@Global()
@Module({ providers: [{ provide: APP_FILTER, useClass: ErrorFilter }] })
export class CommonModule {}
