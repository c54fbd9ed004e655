// bull-board at /admin/queues, behind an `admin`-scope key (HTTP Basic with the key as password works in a
// browser: a 401 here asks for Basic). Each request sees only its own tenant's task queues: the board's
// queue list is swapped in per request, right before bull-board's handler reads it synchronously.
// Read-only unless BATON_DASHBOARD_READONLY=false.
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { errorToProblem, sendProblem } from '../plugins/errors.js';
import type { TasksService } from '../src/tasks/service.js';

type BoardQueues = Map<string, BullMQAdapter>;

/** A FastifyAdapter whose queue list is the current request's tenant's. */
class TenantFastifyAdapter extends FastifyAdapter {
  current: BoardQueues = new Map();
}
Object.defineProperty(TenantFastifyAdapter.prototype, 'bullBoardQueues', {
  get(this: TenantFastifyAdapter) {
    return this.current;
  },
  set() {
    // createBullBoard's own (global) list is ignored: queues are per tenant.
  },
});

export const DASHBOARD_PATH = '/admin/queues';

export async function registerDashboard(app: FastifyInstance, service: TasksService, readOnly: boolean) {
  const adapter = new TenantFastifyAdapter();
  adapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: [], serverAdapter: adapter, options: { uiConfig: { boardTitle: 'Baton tasks' } } });

  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object), scope: 'admin' } as typeof route.config;
      // Auth and other errors as problem documents (bull-board's own error handler would make them 500s).
      route.errorHandler = (err, request, reply) => {
        const { problem, headers } = errorToProblem(err, request);
        return sendProblem(reply, problem, headers);
      };
      const original = route.handler as RouteHandlerMethod;
      route.handler = async function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
        const queues = await service.dashboardQueues(request.auth.tenant);
        // No await between here and bull-board reading the list: concurrent requests cannot mix tenants.
        adapter.current = new Map(queues.map((q) => {
          const a = new BullMQAdapter(q, { readOnlyMode: readOnly, displayName: q.name.replace(/^\{|\}$/g, '').replace(/~/g, ':') });
          return [a.getName(), a];
        }));
        return original.call(this, request, reply);
      } as RouteHandlerMethod;
    });
    // A browser only prompts for credentials when asked for Basic.
    scope.addHook('onSend', async (_request, reply, payload) => {
      if (reply.statusCode === 401) reply.header('www-authenticate', 'Basic realm="baton dashboard"');
      return payload;
    });
    await scope.register(adapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}
