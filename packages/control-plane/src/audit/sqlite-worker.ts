/** Entry module of the SQLite audit writer thread (started by sqlite-writer.ts). */
import { runWriterThread } from './writer-thread';

runWriterThread();
