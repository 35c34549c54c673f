// The login gate and the router: pages load lazily so the first screen stays small.
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import { Loading } from './components/states';
import { Layout } from './Layout';
import { AuthProvider, useMeQuery } from './lib/auth';
import { LoginPage } from './pages/LoginPage';

const page =
  <K extends string>(load: () => Promise<Record<K, React.ComponentType>>, name: K) =>
  async () => ({ Component: (await load())[name] });

const router = createBrowserRouter([
  {
    path: '/',
    element: <Layout />,
    hydrateFallbackElement: <Loading />,
    children: [
      { index: true, element: <Navigate to="/batches" replace /> },
      { path: 'upload', lazy: page(() => import('./pages/UploadPage'), 'UploadPage') },
      { path: 'batches', lazy: page(() => import('./pages/BatchesPage'), 'BatchesPage') },
      { path: 'batches/:id', lazy: page(() => import('./pages/BatchDetailPage'), 'BatchDetailPage') },
      { path: 'review', lazy: page(() => import('./pages/NeedsReviewPage'), 'NeedsReviewPage') },
      { path: 'employees', lazy: page(() => import('./pages/PeoplePage'), 'EmployeesPage') },
      { path: 'employees/:employeeId', lazy: page(() => import('./pages/PeoplePage'), 'EmployeesPage') },
      { path: 'sources', lazy: page(() => import('./pages/PeoplePage'), 'SourcesPage') },
      { path: 'sources/:sourceId', lazy: page(() => import('./pages/PeoplePage'), 'SourcesPage') },
      { path: 'books', lazy: page(() => import('./pages/BooksPage'), 'BooksPage') },
      { path: 'users', lazy: page(() => import('./pages/UsersPage'), 'UsersPage') },
      { path: '*', element: <Navigate to="/batches" replace /> },
    ],
  },
]);

export function Root() {
  const me = useMeQuery();
  if (me.isPending) return <Loading label="Starting LoanPay…" />;
  if (!me.data) return <LoginPage />;
  return (
    <AuthProvider me={me.data}>
      <RouterProvider router={router} />
    </AuthProvider>
  );
}
